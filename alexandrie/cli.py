"""The ``alexandrie`` command line (also ``python -m alexandrie``)."""

import logging
import sys

import click

from .errors import AlexandrieError, ConfigError

log = logging.getLogger("alexandrie")


class AppGroup(click.Group):
    """Adds commands that plugins return from ``alexandrie_commands``."""

    def list_commands(self, ctx):
        return sorted({*super().list_commands(ctx), *_plugin_commands()})

    def get_command(self, ctx, name):
        return super().get_command(ctx, name) or _plugin_commands().get(name)


def _plugin_command_list() -> list:
    from .plugins import get_plugin_manager

    try:
        pm = get_plugin_manager(config=_config_for_plugins())
    except Exception:
        return []
    return [cmd for cmds in pm.hook.alexandrie_commands() for cmd in cmds or ()]


def _config_for_plugins() -> dict | None:
    """The config (``--config`` or the usual lookup), so plugins it disables add no commands."""
    from .config import load_config

    ctx = click.get_current_context(silent=True)
    try:
        return load_config(ctx.find_root().params.get("config_path") if ctx else None)
    except Exception:
        return None


def _plugin_commands() -> dict:
    return {cmd.name: cmd for cmd in _plugin_command_list()}


class ExtensibleGroup(click.Group):
    """A core group that plugins extend by returning a group of the same name (``index check``)."""

    def _extra(self) -> dict:
        extra = {}
        for cmd in _plugin_command_list():
            if isinstance(cmd, click.Group) and cmd.name == self.name and cmd is not self:
                extra.update(cmd.commands)
        return extra

    def list_commands(self, ctx):
        return sorted({*super().list_commands(ctx), *self._extra()})

    def get_command(self, ctx, name):
        return super().get_command(ctx, name) or self._extra().get(name)


@click.group(cls=AppGroup)
@click.option("--config", "config_path", metavar="FILE", envvar="ALEXANDRIE_CONFIG",
              help="Config file (default: $ALEXANDRIE_CONFIG, else ./alexandrie.toml).")
@click.option("-v", "--verbose", is_flag=True, help="Log debug messages.")
@click.pass_context
def main(ctx, config_path, verbose):
    """Alexandrie: a self-hosted Cargo registry."""
    logging.basicConfig(level=logging.DEBUG if verbose else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    ctx.obj = {"config": config_path}
    ctx.call_on_close(lambda: _close(ctx))


def _close(ctx):
    app = ctx.obj.get("app")
    if app is not None:
        app.extensions["alexandrie"].downloads.flush()
        app.extensions["alexandrie"].index.close()


def get_app(ctx=None):
    """Build the app once per command; configuration problems exit with the fix."""
    ctx = ctx or click.get_current_context()
    root = ctx.find_root()
    if root.obj.get("app") is None:
        from .app import create_app

        try:
            root.obj["app"] = create_app(root.obj["config"])
        except ConfigError as exc:
            raise click.ClickException(str(exc)) from exc
    return root.obj["app"]


def in_app(func):
    """Run a command inside an app context with a database connection."""
    import functools

    from .db import connection

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        app = get_app()
        with app.app_context(), connection():
            try:
                return func(*args, **kwargs)
            except AlexandrieError as exc:
                raise click.ClickException(exc.detail) from exc
    return wrapper


@main.command()
@click.option("--bind", metavar="HOST:PORT", help="Address to listen on (default: [general] bind_address).")
@click.option("--threads", type=int, help="Worker threads (default: [general] threads).")
def serve(bind, threads):
    """Serve the registry with waitress."""
    from .plugins import describe_plugins
    from .serving import serve as serve_forever

    app = get_app()
    general = app.extensions["alexandrie"].config["general"]
    bind = bind or general["bind_address"]
    threads = threads or general["threads"]
    for plugin in describe_plugins(app.extensions["alexandrie"].pm):
        log.info("plugin %s (%s %s)", plugin["name"], plugin["distribution"], plugin["version"])
    log.info("serving %s on http://%s with %d threads; cargo index: sparse+%s/index/",
             general["registry_name"], bind, threads, general["public_url"])
    serve_forever(app, listen=bind, threads=threads, ident="alexandrie", clear_untrusted_proxy_headers=True)


@main.command()
@in_app
def init():
    """Create the database tables and storage folders, then print the cargo config to use."""
    from flask import current_app

    general = current_app.extensions["alexandrie"].config["general"]
    click.echo("Registry ready. Point cargo at it in ~/.cargo/config.toml:\n")
    click.echo(f'[registries.{general["registry_name"]}]\nindex = "sparse+{general["public_url"]}/index/"')


@main.group()
def user():
    """Manage user accounts."""


@user.command("create")
@click.argument("login")
@click.option("--email", help="E-mail address.")
@click.option("--name", help="Display name (default: the login).")
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")
@click.option("--admin", is_flag=True, help="Make the user an administrator.")
@in_app
def user_create(login, email, name, password_stdin, admin):
    """Create a user (log-in name LOGIN)."""
    from .accounts import create_user

    password = sys.stdin.readline().rstrip("\r\n") if password_stdin else None
    from .audit import record

    create_user(login, email=email, name=name, password=password, is_admin=admin)
    record("user-create", actor="cli", details={"user": login, "is_admin": admin})
    click.echo(f"created user {login}{' (admin)' if admin else ''}")


@user.command("list")
@in_app
def user_list():
    """List users with their roles and state."""
    from .models import User

    for row in User.select().order_by(User.login):
        roles = [r for r, on in (("admin", row.is_admin), ("read-only", row.is_read_only)) if on]
        click.echo(f"{row.login}\t{','.join(roles) or 'user'}\t{'active' if row.is_active_account else 'disabled'}")


@user.command("disable")
@click.argument("login")
@in_app
def user_disable(login):
    """Disable LOGIN: no sign-in, and their tokens stop working."""
    from .admin import set_active

    set_active(login, False, actor="cli")
    click.echo(f"disabled {login}")


@user.command("enable")
@click.argument("login")
@in_app
def user_enable(login):
    """Enable a disabled account again."""
    from .admin import set_active

    set_active(login, True, actor="cli")
    click.echo(f"enabled {login}")


@user.command("set-role")
@click.argument("login")
@click.option("--admin/--no-admin", default=None, help="Grant or remove administrator rights.")
@click.option("--read-only/--no-read-only", default=None, help="May read and download, never publish.")
@in_app
def user_set_role(login, admin, read_only):
    """Change LOGIN's roles."""
    from .admin import set_roles

    row = set_roles(login, "cli", admin=admin, read_only=read_only)
    click.echo(f"{login}: admin={row.is_admin} read_only={row.is_read_only}")


@user.command("reset-password")
@click.argument("login")
@in_app
def user_reset_password(login):
    """Set LOGIN's password from the first line of standard input."""
    from .admin import reset_password

    reset_password(login, sys.stdin.readline().rstrip("\r\n"), actor="cli")
    click.echo(f"password of {login} reset")


@main.group("crate")
def crate_group():
    """Administer crates: delete, transfer ownership, restrict who may read them."""


@crate_group.command("delete")
@click.argument("name")
@click.argument("version", required=False)
@click.option("--force", is_flag=True, help="Delete even when other crates depend on it.")
@in_app
def crate_delete(name, version, force):
    """Delete VERSION of crate NAME, or the whole crate (see the deletion policy)."""
    from .admin import delete_crate, delete_version

    if version:
        delete_version(name, version, actor="cli", force=force)
        click.echo(f"deleted {name} {version}")
    else:
        click.echo(f"deleted {name} and versions {', '.join(delete_crate(name, actor='cli', force=force))}")


@crate_group.command("transfer")
@click.argument("name")
@click.argument("login")
@in_app
def crate_transfer(name, login):
    """Make LOGIN the only owner of crate NAME."""
    from .admin import transfer_ownership

    previous = transfer_ownership(name, login, actor="cli")
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
    from .access import add_reader, readers_of, remove_reader, set_restricted
    from .accounts import find_user
    from .audit import record
    from .crates import find_crate
    from .groups import find_group

    crate = find_crate(name)
    set_restricted(crate, not off)
    for login in readers:
        add_reader(crate, user=find_user(login))
    for group in groups:
        add_reader(crate, group=find_group(group))
    for reader in removed:
        target = {"group": find_group(reader[1:])} if reader.startswith("@") else {"user": find_user(reader)}
        remove_reader(crate, **target)
    record("read-access", actor="cli", crate=crate.name,
           details={"restricted": not off, "readers": readers_of(crate)})
    click.echo(f"{crate.name}: {'open to all users' if off else 'restricted'}; readers: "
               f"{', '.join(readers_of(crate)) or 'owners and admins only'}")


@main.group("group")
def group_cmd():
    """Manage user groups (for reading restricted crates)."""


@group_cmd.command("add")
@click.argument("group")
@click.argument("logins", nargs=-1)
@in_app
def group_add(group, logins):
    """Add users to GROUP (created when missing)."""
    from .groups import add_members

    add_members(group, logins)
    click.echo(f"group {group}: added {', '.join(logins) or 'nobody'}")


@group_cmd.command("remove")
@click.argument("group")
@click.argument("logins", nargs=-1, required=True)
@in_app
def group_remove(group, logins):
    """Remove users from GROUP."""
    from .groups import remove_members

    remove_members(group, logins)
    click.echo(f"group {group}: removed {', '.join(logins)}")


@main.group()
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
    from .audit import export_lines

    for line in export_lines(action=action, actor=actor, crate=crate):
        output.write(line + "\n")


@main.group()
def token():
    """Manage API tokens."""


@token.command("create")
@click.argument("login")
@click.option("--label", default="cli", show_default=True, help="What the token is for.")
@click.option("--scope", "scopes", multiple=True, metavar="SCOPE",
              help="Limit the token (repeatable): read, publish-new, publish-update, yank, change-owners. "
                   "Default: unrestricted.")
@click.option("--crate", "crate_patterns", multiple=True, metavar="PATTERN",
              help="Limit publish/yank/owner changes to crates named PATTERN (a trailing * matches a prefix).")
@click.option("--expires-in", metavar="DURATION", help="Expire after e.g. 30d, 12h, 2w (default: never).")
@in_app
def token_create(login, label, scopes, crate_patterns, expires_in):
    """Create an API token for LOGIN; the token alone is the last line printed."""
    from .accounts import find_user
    from .auth import create_token
    from .defaults.token_scopes import check_patterns, expiry_from

    _, plaintext = create_token(find_user(login), label, scopes=scopes or None,
                                crate_patterns=check_patterns(crate_patterns) or None,
                                expires_at=expiry_from(expires_in), actor="cli")
    click.echo(f"token {label!r} for {login} (shown once, store it now):", err=True)
    click.echo(plaintext)


@token.command("list")
@click.argument("login")
@in_app
def token_list(login):
    """List LOGIN's tokens: id, label, scopes, crates, expiry, last use (never the secret)."""
    from .accounts import find_user
    from .models import ApiToken
    from .defaults.token_scopes import describe_token

    for row in ApiToken.select().where(ApiToken.user == find_user(login)).order_by(ApiToken.id):
        click.echo(describe_token(row))


@token.command("revoke")
@click.argument("token_id", type=int)
@in_app
def token_revoke(token_id):
    """Revoke the token with id TOKEN_ID (see `alexandrie token list`)."""
    from .auth import revoke_token
    from .models import ApiToken

    row = ApiToken.get_or_none(ApiToken.id == token_id)
    if row is None:
        raise click.ClickException(f"no token with id {token_id}; see `alexandrie token list LOGIN`")
    click.echo(f"revoked token {token_id}" if revoke_token(row, actor="cli") else f"token {token_id} was already revoked")


@main.command("import")
@click.argument("paths", nargs=-1, type=click.Path(exists=True))
@click.option("--index", "index_path", metavar="PATH", type=click.Path(exists=True, file_okay=False),
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
def import_crates(paths, index_path, crates_dir, mirror, owner, foreign):
    """Import .crate files (or folders of them), recovering metadata from their Cargo.toml.

    With --index PATH --crates DIR, import an existing git index instead (migrations).
    """
    if index_path or crates_dir:
        if not (index_path and crates_dir) or paths:
            raise click.UsageError("use --index PATH together with --crates DIR, and no other paths")
        from .importer_index import import_index

        report = import_index(index_path, crates_dir, owner=owner)
    elif not paths:
        raise click.UsageError("give .crate files or folders of them, or --index PATH --crates DIR")
    else:
        from .importer import import_paths

        report = import_paths(paths, mirror=mirror, owner=owner, foreign_indexes=foreign)
    click.echo(report.summary())
    if report.failed:
        sys.exit(1)


@main.group(cls=ExtensibleGroup)
def index():
    """Maintain index formats."""


@index.command("rebuild")
@in_app
def index_rebuild():
    """Regenerate every index file (sparse and any index backend) from the database."""
    from .index_files import rebuild_all
    from .models import Crate

    with click.progressbar(length=Crate.select().count(), label="Rebuilding index", file=sys.stderr) as bar:
        count = rebuild_all(progress=bar.update)
    click.echo(f"rebuilt the index files of {count} crates")


def _add_readme_commands():
    from .readmes import readme_group

    main.add_command(readme_group)


_add_readme_commands()


@main.command()
def plugins():
    """List installed plugins, their distribution and version, and the hooks each implements."""
    from .config import load_config
    from .plugins import describe_plugins, get_plugin_manager

    try:
        pm = get_plugin_manager(config=load_config(click.get_current_context().find_root().obj["config"]))
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from exc
    for plugin in describe_plugins(pm):
        click.echo(f"{plugin['name']}  [{plugin['distribution']} {plugin['version']}]")
        if plugin["disabled"]:
            click.echo("    disabled (by config or ALEXANDRIE_DISABLE_PLUGINS)")
        else:
            click.echo(f"    hooks: {', '.join(plugin['hooks']) or '-'}")


from .cli_db import db_group  # noqa: E402  (needs get_app from above)

main.add_command(db_group)
