"""``alexandrie index``: the core's ``rebuild``, and the subcommands index plugins add (git: check, status, gc)."""

import sys

import click

from ..models import Crate
from ..services.index_files import rebuild_all
from .context import in_app, plugin_commands


class ExtensibleGroup(click.Group):
    """A core group that plugins extend by returning a group of the same name (``index check``)."""

    def _extra(self, ctx) -> dict:
        extra = {}
        for command in plugin_commands(ctx).values():
            if isinstance(command, click.Group) and command.name == self.name and command is not self:
                extra.update(command.commands)
        return extra

    def list_commands(self, ctx):
        return sorted({*super().list_commands(ctx), *self._extra(ctx)})

    def get_command(self, ctx, name):
        return super().get_command(ctx, name) or self._extra(ctx).get(name)


@click.group(cls=ExtensibleGroup)
def index():
    """Maintain index formats."""


@index.command("rebuild")
@in_app
def index_rebuild():
    """Regenerate every index file (sparse and any index backend) from the database."""
    with click.progressbar(length=Crate.select().count(), label="Rebuilding index", file=sys.stderr) as bar:
        count = rebuild_all(progress=bar.update)
    click.echo(f"rebuilt the index files of {count} crates")


COMMANDS = (index,)
