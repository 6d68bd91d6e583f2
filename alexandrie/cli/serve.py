"""``alexandrie serve``, ``init`` and ``plugins``: running the registry and seeing what it is made of."""

import dataclasses
import logging

import click
from flask import current_app

from ..config import bind_address_problem
from ..errors import ConfigError
from ..plugins import describe_plugins
from ..registry import registry
from ..web.serving import listen_on
from ..web.serving import serve as serve_forever
from .context import cli_context, in_app

log = logging.getLogger("alexandrie")


@click.command()
@click.option("--bind", metavar="HOST:PORT", help="Address to listen on (default: [general] bind_address).")
@click.option("--threads", type=click.IntRange(min=1), help="Worker threads (default: [general] threads).")
def serve(bind, threads):
    """Serve the registry with waitress."""
    state = cli_context()
    if bind:
        _bind_instead(state, bind)
    sockets = _listen(state.load_settings().general.bind_address, "--bind" if bind else "[general] bind_address")
    try:
        app = state.get_app(serving=True)
    except BaseException:
        for sock in sockets:
            sock.close()
        raise
    general = registry(app).settings.general
    threads = threads or general.threads
    for plugin in describe_plugins(registry(app).pm):
        log.info("plugin %s (%s %s)", plugin["name"], plugin["distribution"], plugin["version"])
    log.info("serving %s on http://%s with %d threads; cargo index: sparse+%s/index/",
             general.registry_name, general.bind_address, threads, general.public_url)
    log.info("at most %d connections, %d per client address; %d s to send a request's headers",
             general.connection_limit, general.max_connections_per_client, general.header_timeout)
    serve_forever(app, sockets=sockets, threads=threads, ident="alexandrie", clear_untrusted_proxy_headers=True)


def _bind_instead(state, bind: str) -> None:
    """``--bind`` stands for ``[general] bind_address``, so a ``public_url`` derived from it follows it too."""
    problem = bind_address_problem(bind)
    if problem:
        raise click.ClickException(f"--bind {bind} {problem}")
    settings = state.load_settings()
    general = settings.general
    follows = general.public_url == f"http://{general.bind_address}"
    general = dataclasses.replace(general, bind_address=bind,
                                  public_url=f"http://{bind}" if follows else general.public_url)
    state.settings = dataclasses.replace(settings, general=general)


def _listen(address: str, setting: str) -> list:
    """Take the port first: when it is in use, the start-up stops before it creates anything."""
    try:
        return listen_on(address, setting)
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from exc


@click.command()
@in_app
def init():
    """Create the database tables and storage folders, then print the cargo config to use."""
    general = registry(current_app).settings.general
    click.echo("Registry ready. Point cargo at it in ~/.cargo/config.toml:\n")
    click.echo(f'[registries.{general.registry_name}]\nindex = "sparse+{general.public_url}/index/"')


@click.command()
def plugins():
    """List installed plugins, their distribution and version, and the hooks each implements."""
    state = cli_context()
    state.load_settings()  # a mistake in the config (disabled_plugins among them) is reported, not guessed around
    for plugin in describe_plugins(state.plugin_manager()):
        click.echo(f"{plugin['name']}  [{plugin['distribution']} {plugin['version']}]")
        if plugin["state"] == "disabled":
            click.echo("    disabled (by config or ALEXANDRIE_DISABLE_PLUGINS)")
        elif plugin["state"] != "active":
            click.echo(f"    {plugin['state']}")
        else:
            click.echo(f"    hooks: {', '.join(plugin['hooks']) or '-'}")


COMMANDS = (serve, init, plugins)
