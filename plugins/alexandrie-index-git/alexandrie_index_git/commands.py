"""``alexandrie index check``, ``status`` and ``gc``, added to the core ``index`` group."""

import datetime
import sys

import click
import pygit2
from flask import current_app

from alexandrie import in_app, registry

from .maintenance import loose_objects, pack
from .remotes import pending_commits, read_status_file
from .repair import repair
from .repository import GitIndex


@click.group("index")
def index_group():
    """Maintain index formats."""


def _git_index() -> GitIndex:
    index = registry(current_app).index
    if not isinstance(index, GitIndex):
        kind = registry(current_app).settings.index.get("type")
        raise click.ClickException(f'[index] type = "{kind}": this command works on the git index '
                                   '(type = "git" with path = "DIR")')
    return index


@index_group.command("check")
@click.option("--grace", type=float, default=None, metavar="SECONDS",
              help="Wait between the two looks at a difference (default: [index] repair_grace).")
@in_app
def index_check(grace):
    """Compare the git index with the database and commit a repair of any difference."""
    index = _git_index()
    report = repair(index, grace=index.settings.repair_grace if grace is None else grace)
    click.echo(report.summary())
    pusher = getattr(index, "pusher", None)
    if report.commit and pusher is not None and not pusher.flush(30):
        click.echo("the repair commit is not pushed yet; `alexandrie index status` shows why", err=True)


@index_group.command("status")
@in_app
def index_status():
    """Show the repository, its HEAD commit and, for each remote, the last push and what is pending."""
    index = _git_index()
    repo = index.reader()
    head = index.head_commit()
    click.echo(f"repository: {index.path}{' (bare)' if repo.is_bare else ''}")
    click.echo(f"branch:     {index.branch_ref(repo).removeprefix('refs/heads/')}")
    if head is None:
        click.echo("HEAD:       no commit yet")
    else:
        click.echo(f"HEAD:       {str(head.id)[:12]} {_when(head.commit_time)}  {head.message.strip()}")
    packing = f"git gc --auto every {index.packer.every} commits" if index.packer else "off ([index] gc_every = 0)"
    click.echo(f"objects:    {loose_objects(index.git_dir)} loose; automatic packing {packing}")
    _echo_remotes(index, repo, str(head.id) if head else None)


@index_group.command("gc")
@in_app
def index_gc():
    """Pack every loose object of the git index now (``git gc``, under the repository lock)."""
    index = _git_index()
    before = loose_objects(index.git_dir)
    try:
        pack(index.git_dir, index.lock)
    except RuntimeError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"packed the git index: {before} loose objects before, {loose_objects(index.git_dir)} after")


def _echo_remotes(index, repo: pygit2.Repository, tip: str | None) -> None:
    pusher = getattr(index, "pusher", None)
    if pusher is None:
        click.echo("remotes:    none (set [index] remotes = [...] to push every commit)")
        return
    saved = read_status_file(index.git_dir)
    click.echo("remotes:")
    failing = False
    for remote in pusher.remotes:
        state = saved.get(remote.name, {})
        pending = pending_commits(repo, tip, state.get("pushed"))
        click.echo(f"  {remote.name}  {remote.display_url}")
        click.echo(f"    last push:  {_when(state.get('last_success'))}"
                   f"{'  (' + state['pushed'][:12] + ')' if state.get('pushed') else ''}")
        click.echo(f"    pending:    {pending} commit{'s' if pending != 1 else ''}")
        if state.get("last_error"):
            failing = True
            click.echo(f"    last error: {state['last_error']} ({state.get('failures', 0)} failed attempts, "
                       f"next retry {_when(state.get('next_retry'))})")
    if failing:
        sys.exit(1)


def _when(timestamp) -> str:
    if not timestamp:
        return "never"
    moment = datetime.datetime.fromtimestamp(timestamp, datetime.UTC)
    return moment.strftime("%Y-%m-%d %H:%M:%S UTC")
