"""``alexandrie db``: schema status and upgrades, and copying a registry to another database or storage."""

import dataclasses
import sys
import tomllib
from pathlib import Path

import click

from ..app import create_app
from ..config import Settings, load_config, sqlite_url_relative_to
from ..db import check_reachable, connection, database_description, open_database, prepare_files
from ..errors import ConfigError
from ..migrations import latest_version, pending, read_version
from ..registry import registry
from ..services.copying import check_destination, copy_registry, count_work, destination_index, index_note
from .context import cli_context


@click.group("db")
def db_group():
    """Database schema and moving a registry."""


@db_group.command("status")
def db_status():
    """Show the schema version of the database and the version this code needs."""
    settings = cli_context().load_settings()
    try:
        database = open_database(settings.database.url, 1)
        check_reachable(database, settings.database.url)
        prepare_files(database)
        with database.connection_context():
            version = read_version(database)
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"database: {database_description(settings.database.url)}")
    click.echo(f"schema version: {'none (empty database)' if version is None else version}; "
               f"this Alexandrie needs {latest_version()}")
    for step in pending(version):
        click.echo(f"  pending {step.version}: {step.description}")
    if version is not None and version > latest_version():
        sys.exit("the database is newer than this Alexandrie; upgrade Alexandrie")


@db_group.command("upgrade")
def db_upgrade():
    """Create the schema, or apply pending migrations (back the database up first)."""
    state = cli_context()
    settings = state.load_settings()
    state.settings = settings.derive(database={**settings.tables.get("database", {}), "auto_upgrade": True})
    app = state.get_app()  # start-up applies what is pending, under the schema lock
    with app.app_context(), connection() as database:
        click.echo(f"the database schema is at version {read_version(database)}")


@db_group.command("copy")
@click.option("--to", "to_url", metavar="URL", help="Destination database (sqlite:///PATH, postgresql://..., mysql://...).")
@click.option("--to-config", type=click.Path(exists=True, dir_okay=False),
              help="A config file describing the destination ([database] and [storage]).")
@click.option("--to-storage-type", metavar="TYPE", help="Destination storage backend (default: the source's).")
@click.option("--to-storage", "storage_options", multiple=True, metavar="KEY=VALUE",
              help="A [storage] setting of the destination, e.g. --to-storage bucket=crates (repeatable).")
def db_copy(to_url, to_config, to_storage_type, storage_options):
    """Copy every row and crate file to another database and storage, verifying every checksum.

    The source is only read. The destination keeps the source's storage unless told otherwise, and gets
    the sparse index only, unless --to-config names an [index] of its own, which the copy then rebuilds.
    Safe to re-run: what is already there is checked and kept.
    """
    if not to_url and not to_config:
        raise click.UsageError("name the destination with --to URL or --to-config FILE")
    state = cli_context()
    source = state.get_app()
    source_settings = registry(source).settings
    dest_settings = _destination_settings(source_settings, to_url, to_config, to_storage_type, storage_options)
    try:
        check_destination(source_settings, dest_settings)
        dest = create_app(dest_settings, pm=state.plugin_manager(), serving=False)
    except ConfigError as exc:
        raise click.ClickException(f"destination: {exc}") from exc
    try:
        with click.progressbar(length=count_work(source), label="Copying registry", file=sys.stderr) as bar:
            report = copy_registry(source, dest, progress=bar.update)
    finally:
        registry(dest).index.close()
    click.echo(report.summary())
    note = index_note(source_settings, dest_settings)
    if note:
        click.echo(note)
    if report.problems:
        sys.exit(1)


def _destination_settings(source: Settings, to_url, to_config, storage_type, storage_options) -> Settings:
    try:
        settings = load_config(to_config) if to_config else source
        # Only a destination config's own [index] is the destination's: the source's is never shared.
        index = destination_index(source, settings.index if to_config else None)
    except ConfigError as exc:
        raise click.ClickException(f"{to_config or 'destination'}: {exc}") from exc
    database = dataclasses.asdict(settings.database)
    if to_url:
        database["url"] = sqlite_url_relative_to(to_url, Path.cwd())
    storage = {"type": storage_type} if storage_type else dict(settings.storage)
    for option in storage_options:
        key, sep, value = option.partition("=")
        if not sep:
            raise click.UsageError(f"--to-storage {option!r}: write KEY=VALUE")
        storage[key.strip()] = _toml_scalar(value.strip())
    try:
        return settings.derive(database=database, storage=storage, index=index)
    except ConfigError as exc:
        raise click.ClickException(f"destination: {exc}") from exc


def _toml_scalar(value: str):
    """``true``/``false``/numbers as TOML would read them; anything else stays text."""
    try:
        return tomllib.loads(f"v = {value}")["v"]
    except tomllib.TOMLDecodeError:
        return value


COMMANDS = (db_group,)
