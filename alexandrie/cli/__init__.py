"""The ``alexandrie`` command line (also ``python -m alexandrie``): one module per command group."""

import logging
import sys

import click

from . import audit, crates, db, index, serve, users
from .context import CliContext, cli_context, get_app, in_app, plugin_commands

__all__ = ["CliContext", "get_app", "in_app", "main"]


class AppGroup(click.Group):
    """Adds the commands plugins return from ``alexandrie_commands``."""

    def list_commands(self, ctx):
        return sorted({*super().list_commands(ctx), *plugin_commands(ctx)})

    def get_command(self, ctx, name):
        return super().get_command(ctx, name) or plugin_commands(ctx).get(name)


@click.group(cls=AppGroup)
@click.option("--config", "config_path", metavar="FILE", envvar="ALEXANDRIE_CONFIG",
              help="Config file (default: $ALEXANDRIE_CONFIG, else ./alexandrie.toml).")
@click.option("-v", "--verbose", is_flag=True, help="Log debug messages.")
@click.pass_context
def main(ctx, config_path, verbose):
    """Alexandrie: a self-hosted Cargo registry."""
    logging.basicConfig(level=logging.DEBUG if verbose else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    state = cli_context(ctx)
    state.config_path = config_path
    ctx.call_on_close(state.close)


for module in (serve, users, crates, audit, index, db):
    for command in module.COMMANDS:
        main.add_command(command)
