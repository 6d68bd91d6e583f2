"""``alexandrie crate``, ``import`` and ``readme``: administering crates, bringing them in, re-rendering READMEs."""

import sys
from pathlib import Path

import click

from ..config import POLICY_LIMITS
from ..models import Crate
from ..services import crate_limits as crate_limits_service
from ..services import crates
from ..services.importing import crate_files, import_paths
from ..services.index_import import import_index, read_index_files
from ..services.readmes import rerender_all, versions_with_readme
from ..services.users import find_user
from .context import in_app

ACTOR = "cli"


@click.group("crate")
def crate_group():
    """Administer crates: delete, transfer ownership, restrict who may read them, set their own limits."""


@crate_group.command("delete")
@click.argument("name")
@click.argument("version", required=False)
@click.option("--force", is_flag=True, help="Delete even when other crates depend on it.")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation (needed without a terminal, e.g. in scripts).")
@in_app
def crate_delete(name, version, force, yes):
    """Delete VERSION of crate NAME, or the whole crate (see the deletion policy). Asks first, unless --yes."""
    if not yes:
        _confirm(_what_deletion_removes(name, version, force))
    if version:
        crates.delete_version(name, version, actor=ACTOR, force=force)
        click.echo(f"deleted {name} {version}")
    else:
        click.echo(f"deleted {name} and versions {', '.join(crates.delete_crate(name, actor=ACTOR, force=force))}")


def _what_deletion_removes(name: str, version: str | None, force: bool) -> str:
    crate = crates.find_crate(name)
    nums = crates.version_nums(crate)
    if version and version not in nums:
        raise click.ClickException(f"crate `{crate.name}` has no version {version}")
    if version and len(nums) > 1:
        what = f"version {version} of crate `{crate.name}` and its .crate file"
    else:
        count = f"{len(nums)} version{'s' if len(nums) != 1 else ''}"
        what = f"crate `{crate.name}`: its {count} ({', '.join(nums[:5])}{', ...' if len(nums) > 5 else ''}), " \
               "their .crate files, its index file and its owners"
    dependents = crates.dependents_of(crate) if force else []
    if dependents:
        what += f" (the builds of {', '.join(f'`{d}`' for d in dependents)}, which depend on it, will break)"
    return what


def _confirm(what: str) -> None:
    """Ask on the terminal; without one (a script, a pipe) refuse rather than guess."""
    if not sys.stdin.isatty():
        raise click.ClickException(f"this would delete {what}, and nothing can bring it back; there is no terminal "
                                   "to confirm on, so pass --yes to delete without asking")
    click.confirm(f"Delete {what}? This cannot be undone", abort=True, err=True)


@crate_group.command("transfer")
@click.argument("name")
@click.argument("login")
@in_app
def crate_transfer(name, login):
    """Make LOGIN the only owner of crate NAME."""
    previous = crates.transfer_ownership(name, login, actor=ACTOR)
    click.echo(f"{name}: owner {login} (was {', '.join(previous) or 'nobody'})")


@crate_group.command("restrict")
@click.argument("name")
@click.option("--reader", "readers", multiple=True, metavar="LOGIN", help="Also allow this user to read it.")
@click.option("--group", "groups", multiple=True, metavar="GROUP", help="Also allow this group to read it.")
@click.option("--remove-reader", "removed", multiple=True, metavar="LOGIN|@GROUP", help="Take a reader away.")
@click.option("--off", is_flag=True, help="Lift the restriction: everyone who can use the registry sees it.")
@in_app
def crate_restrict(name, readers, groups, removed, off):
    """Make crate NAME readable only by its owners, admins and the given readers."""
    crate = crates.find_crate(name)
    _, named = crates.change_read_access(crate.name, ACTOR, restricted=not off,
                                         add_readers=[*readers, *(f"@{g}" for g in groups)], remove_readers=removed)
    click.echo(f"{crate.name}: {'open to all users' if off else 'restricted'}; readers: "
               f"{', '.join(named) or 'owners and admins only'}")


@crate_group.command("limits")
@click.argument("name")
@click.argument("settings", nargs=-1, metavar="[SETTING=NUMBER|SETTING=default]...")
@in_app
def crate_limits(name, settings):
    """Show crate NAME's publish limits, or raise them for it (max_features=1600), or go back to the
    configured one (max_features=default)."""
    if settings:
        crate_limits_service.set_overrides(name, ACTOR, dict(_override(setting) for setting in settings))
    crate = crates.find_crate(name)
    limits, overrides = crate_limits_service.limits_for(crate), crate_limits_service.overrides_of(crate)
    for key in POLICY_LIMITS:
        click.echo(f"{key} = {getattr(limits, key)}{'  (set for this crate)' if key in overrides else ''}")


def _override(setting: str) -> tuple[str, int | None]:
    key, equals, value = setting.partition("=")
    if not equals or not (value.isdigit() or value == "default"):
        raise click.BadParameter(f"{setting!r}: write SETTING=NUMBER, like max_features=1600, or SETTING=default")
    return key.strip(), None if value == "default" else int(value)


@click.command("import")
@click.argument("paths", nargs=-1, type=click.Path(exists=True))
@click.option("--index", "index_dir", metavar="PATH", type=click.Path(exists=True, file_okay=False),
              help="Import every version listed in this crates.io-format git index (with --crates).")
@click.option("--crates", "crates_dir", metavar="DIR", type=click.Path(exists=True, file_okay=False),
              help="With --index: the folder holding the index's .crate files (any layout).")
@click.option("--mirror", is_flag=True,
              help="These crates mirror crates.io (used through source replacement): their crates.io "
                   "dependencies resolve on this registry.")
@click.option("--owner", metavar="LOGIN", help="Make LOGIN the owner of imported crates.")
@click.option("--foreign-index", "foreign", multiple=True, metavar="URL",
              help="A registry-index URL to keep as another registry (others become local).")
@in_app
def import_crates(paths, index_dir, crates_dir, mirror, owner, foreign):
    """Import .crate files (or folders of them), recovering metadata from their Cargo.toml.

    With --index PATH --crates DIR, import an existing git index instead (migrations).
    """
    owner_user = find_user(owner) if owner else None
    if index_dir or crates_dir:
        if not (index_dir and crates_dir) or paths:
            raise click.UsageError("use --index PATH together with --crates DIR, and no other paths")
        files = list(read_index_files(Path(index_dir)))
        with _progress(files, "Importing index") as bar:
            report = import_index(files, crates_dir, owner=owner_user, actor=ACTOR,
                                  progress=lambda path: bar.update(1, path))
    elif not paths:
        raise click.UsageError("give .crate files or folders of them, or --index PATH --crates DIR")
    else:
        files = crate_files(paths)
        with _progress(files, "Importing crates") as bar:
            report = import_paths(files, mirror=mirror, owner=owner_user, foreign_indexes=foreign, actor=ACTOR,
                                  progress=lambda path: bar.update(1, path.name))
    click.echo(report.summary())
    if report.failed:
        sys.exit(1)


def _progress(items: list, label: str):
    return click.progressbar(length=len(items), label=label, file=sys.stderr, show_pos=True,
                             item_show_func=lambda item: item or "")


@click.group("readme")
def readme_group():
    """Maintain rendered READMEs."""


@readme_group.command("rerender")
@in_app
def rerender():
    """Render every stored README again (after upgrading the renderer plugin or changing its theme)."""
    total = versions_with_readme().count()
    with click.progressbar(length=total, label="Rendering READMEs", file=sys.stderr) as bar:
        changed = rerender_all(progress=bar.update)
    click.echo(f"rendered {total} READMEs of {Crate.select().count()} crates; {changed} changed")


COMMANDS = (crate_group, import_crates, readme_group)
