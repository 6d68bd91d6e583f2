"""``alexandrie audit export``: the audit log as JSON lines."""

import click

from ..services.audit import export_lines
from .context import in_app


@click.group()
def audit():
    """Read the audit log."""


@audit.command("export")
@click.option("--action", help="Only this action (publish, yank, token-create, login-failed, ...).")
@click.option("--actor", help="Only events caused by this login.")
@click.option("--crate", help="Only events about this crate.")
@click.option("-o", "--output", type=click.File("w"), default="-", help="File to write (default: stdout).")
@in_app
def audit_export(action, actor, crate, output):
    """Write the audit log as JSON lines, oldest first."""
    for line in export_lines(action=action, actor=actor, crate=crate):
        output.write(line + "\n")


COMMANDS = (audit,)
