"""``alexandrie user``, ``token`` and ``group``: accounts, API tokens and the groups that read restricted crates."""

import sys

import click

from ..models import ApiToken, User
from ..rules.tokens import check_patterns, expiry_from
from ..services import groups, users
from ..services.tokens import create_token, describe_token, revoke_token
from .context import in_app

ACTOR = "cli"


def _password_from_stdin() -> str:
    return sys.stdin.readline().rstrip("\r\n")


@click.group()
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
    password = _password_from_stdin() if password_stdin else None
    users.create_user(login, email=email, name=name, password=password, is_admin=admin, actor=ACTOR)
    click.echo(f"created user {login}{' (admin)' if admin else ''}")


@user.command("list")
@in_app
def user_list():
    """List users with their roles and state."""
    for row in User.select().order_by(User.login):
        roles = [r for r, on in (("admin", row.is_admin), ("read-only", row.is_read_only)) if on]
        click.echo(f"{row.login}\t{','.join(roles) or 'user'}\t{'active' if row.is_active_account else 'disabled'}")


@user.command("disable")
@click.argument("login")
@in_app
def user_disable(login):
    """Disable LOGIN: no sign-in, and their tokens stop working."""
    users.set_active(login, False, actor=ACTOR)
    click.echo(f"disabled {login}")


@user.command("enable")
@click.argument("login")
@in_app
def user_enable(login):
    """Enable a disabled account again."""
    users.set_active(login, True, actor=ACTOR)
    click.echo(f"enabled {login}")


@user.command("set-role")
@click.argument("login")
@click.option("--admin/--no-admin", default=None, help="Grant or remove administrator rights.")
@click.option("--read-only/--no-read-only", default=None, help="May read and download, never publish.")
@in_app
def user_set_role(login, admin, read_only):
    """Change LOGIN's roles."""
    row = users.set_roles(login, ACTOR, admin=admin, read_only=read_only)
    click.echo(f"{login}: admin={row.is_admin} read_only={row.is_read_only}")


@user.command("reset-password")
@click.argument("login")
@in_app
def user_reset_password(login):
    """Set LOGIN's password from the first line of standard input."""
    users.reset_password(login, _password_from_stdin(), actor=ACTOR)
    click.echo(f"password of {login} reset")


@click.group()
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
    _, plaintext = create_token(users.find_user(login), label, scopes=scopes or None,
                                crate_patterns=check_patterns(crate_patterns) or None,
                                expires_at=expiry_from(expires_in), actor=ACTOR)
    click.echo(f"token {label!r} for {login} (shown once, store it now):", err=True)
    click.echo(plaintext)


@token.command("list")
@click.argument("login")
@in_app
def token_list(login):
    """List LOGIN's tokens: id, label, scopes, crates, expiry, last use (never the secret)."""
    for row in ApiToken.select().where(ApiToken.user == users.find_user(login)).order_by(ApiToken.id):
        click.echo(describe_token(row))


@token.command("revoke")
@click.argument("token_id", type=int)
@in_app
def token_revoke(token_id):
    """Revoke the token with id TOKEN_ID (see `alexandrie token list`)."""
    row = ApiToken.get_or_none(ApiToken.id == token_id)
    if row is None:
        raise click.ClickException(f"no token with id {token_id}; see `alexandrie token list LOGIN`")
    revoked = revoke_token(row, actor=ACTOR)
    click.echo(f"revoked token {token_id}" if revoked else f"token {token_id} was already revoked")


@click.group("group")
def group_cmd():
    """Manage user groups (for reading restricted crates)."""


@group_cmd.command("add")
@click.argument("group")
@click.argument("logins", nargs=-1)
@in_app
def group_add(group, logins):
    """Add users to GROUP (created when missing)."""
    groups.add_members(group, logins, actor=ACTOR)
    click.echo(f"group {group}: added {', '.join(logins) or 'nobody'}")


@group_cmd.command("remove")
@click.argument("group")
@click.argument("logins", nargs=-1, required=True)
@in_app
def group_remove(group, logins):
    """Remove users from GROUP."""
    groups.remove_members(group, logins, actor=ACTOR)
    click.echo(f"group {group}: removed {', '.join(logins)}")


COMMANDS = (user, token, group_cmd)
