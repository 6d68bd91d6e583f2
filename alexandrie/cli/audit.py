"""``alexandrie audit export``: the audit log as JSON lines."""

import difflib

import click

from ..services.audit import export_lines, known_actions
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
    if action:
        _refuse_unknown_action(action)
    for line in export_lines(action=action, actor=actor, crate=crate):
        output.write(line + "\n")


def _refuse_unknown_action(action: str) -> None:
    """A misspelt action would export nothing, which reads as "it never happened"."""
    known = known_actions()
    if action in known:
        return
    close = difflib.get_close_matches(action, known, n=1)
    hint = f"did you mean `{close[0]}`? " if close else ""
    raise click.BadParameter(f"no action `{action}` in the audit log; {hint}the actions are: {', '.join(known)}",
                             param_hint="--action")


COMMANDS = (audit,)
