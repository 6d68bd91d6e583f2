"""What one ``alexandrie`` invocation shares: the config, the plugin manager (built once, or passed in by a
test as ``obj=CliContext(pm=...)``), the plugins' commands and the app (built when a command needs it)."""

import functools
from dataclasses import dataclass, field

import click
from flask import Flask

from ..app import create_app
from ..config import Settings, load_config
from ..db import connection
from ..errors import AlexandrieError, ConfigError
from ..plugins import PluginManager, get_plugin_manager
from ..registry import registry


@dataclass
class CliContext:
    config_path: str | None = None
    pm: PluginManager | None = None
    app: Flask | None = None
    settings: Settings | None = None
    commands: dict[str, click.Command] | None = None
    problems: list[str] = field(default_factory=list)  # plugins whose commands are missing, and why

    def load_settings(self) -> Settings:
        """The configuration; a mistake in it exits with the fix."""
        if self.settings is None:
            try:
                self.settings = load_config(self.config_path)
            except ConfigError as exc:
                raise click.ClickException(str(exc)) from exc
        return self.settings

    def plugin_manager(self) -> PluginManager:
        if self.pm is None:
            try:
                blocked = self.load_settings().disabled_plugins
            except click.ClickException:
                blocked = ()  # list the commands anyway; running one reports the config error
            try:
                self.pm = get_plugin_manager(blocked=blocked)
            except ConfigError as exc:
                raise click.ClickException(str(exc)) from exc
        return self.pm

    def get_app(self, serving: bool = False) -> Flask:
        """Build the app once per invocation; configuration problems exit with the fix."""
        if self.app is None:
            try:
                self.app = create_app(self.load_settings(), pm=self.plugin_manager(), serving=serving)
            except ConfigError as exc:
                raise click.ClickException(str(exc)) from exc
        return self.app

    def close(self) -> None:
        if self.app is not None:
            state = registry(self.app)
            state.downloads.flush()
            state.index.close()


def cli_context(ctx: click.Context | None = None) -> CliContext:
    """The invocation's shared state, made on first use (command lookup runs before ``main``'s callback)."""
    root = (ctx or click.get_current_context()).find_root()
    if root.obj is None:
        root.obj = CliContext()
    if root.obj.config_path is None:
        root.obj.config_path = root.params.get("config_path")
    return root.obj


def get_app() -> Flask:
    return cli_context().get_app()


def in_app(func):
    """Run a command inside an app context with a database connection; refusals exit with their message."""
    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        app = get_app()
        with app.app_context(), connection():
            try:
                return func(*args, **kwargs)
            except AlexandrieError as exc:
                raise click.ClickException(exc.detail) from exc
    return wrapper


def plugin_commands(ctx: click.Context) -> dict[str, click.Command]:
    """What every plugin's ``alexandrie_commands`` returns; a plugin that fails to load or to answer is
    reported once on stderr, and every other command stays."""
    state = cli_context(ctx)
    if state.commands is None:
        pm = state.plugin_manager()
        state.commands = {}
        state.problems = [f"plugin {name} could not be loaded ({error})" for name, error in pm.load_failures.items()]
        for impl in pm.hook.alexandrie_commands.get_hookimpls():
            try:
                state.commands.update({command.name: command for command in impl.function() or ()})
            except Exception as exc:
                state.problems.append(f"plugin {impl.plugin_name} failed to list its commands ({exc})")
        for problem in state.problems:
            click.echo(f"warning: {problem}; its commands are missing", err=True)
    return state.commands
