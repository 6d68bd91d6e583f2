"""Every hook a plugin can implement. Each name starts with ``alexandrie_``.

Plugins implement them with ``@alexandrie.hookimpl`` (the marker is defined here, next to
``hookspec``, and re-exported by the package). Hooks marked
``firstresult`` stop at the first implementation that returns something other
than None; the others collect every result in a list.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pluggy

if TYPE_CHECKING:
    import click
    import flask
    import peewee

    from .auth import Identity
    from .config import Settings
    from .events import Event
    from .interfaces import BackendSpec, MachinePath
    from .models import Crate, User
    from .rules.metadata import NewVersion

hookspec = pluggy.HookspecMarker("alexandrie")
hookimpl = pluggy.HookimplMarker("alexandrie")


# --- Wiring: routes, tables, commands ------------------------------------------------


@hookspec
def alexandrie_check_config(settings: Settings) -> str | None:
    """Check your own settings (``settings.plugin_table("NAME")``) before anything is created.

    Called at the start of ``create_app``, before the database, the storage or the index is opened, so
    a mistake in ``[plugins.NAME]`` stops the start-up with nothing left on disk. Return what is
    wrong and what to write instead (one or two lines, naming the key); returning None means your
    settings are fine.
    """


@hookspec
def alexandrie_startup(app: flask.Flask) -> None:
    """Called once at the end of ``create_app``, with the configured backends in place.

    Use it to register Flask extensions, request hooks or template globals. The return
    value is ignored.
    """


@hookspec
def alexandrie_blueprints(app: flask.Flask) -> list[flask.Blueprint] | None:
    """Return Flask blueprints to register on the app (routes, templates, static files).

    Returning None adds nothing.
    """


@hookspec
def alexandrie_models() -> list[type[peewee.Model]] | None:
    """Return peewee model classes whose tables ``alexandrie init`` and start-up create.

    Models must use ``alexandrie.BaseModel`` so they share the app's database.
    Returning None adds nothing.
    """


@hookspec
def alexandrie_machine_paths(app: flask.Flask) -> list[MachinePath] | None:
    """Return the URL prefixes your blueprints serve to programs (git, cargo) rather than browsers.

    Under them errors are JSON, CSRF does not apply and, on a private registry, the request gate
    asks for an API token (answering 401 with your ``challenge``) instead of redirecting to the
    sign-in page. ``/api/`` and ``/index/`` are the core's. Returning None declares none.
    """


@hookspec
def alexandrie_stylesheets(app: flask.Flask) -> list[str] | None:
    """Return the URLs (same origin, for example a blueprint's static file) of stylesheets every page links.

    Style the HTML your plugin produces here, not in the core's CSS. Returning None adds none.
    """


@hookspec
def alexandrie_admin_links(app: flask.Flask) -> list[tuple[str, str]] | None:
    """Return ``(label, endpoint)`` pairs linked from the navigation of every admin page.

    Called once, with ``[frontend] enabled``, when the admin pages are set up. Each endpoint names a
    view of a blueprint your plugin registers (``alexandrie_blueprints``), for example
    ``("Webhooks", "webhooks_admin.deliveries")``; that view must refuse everyone but admins itself.
    Returning None adds no link.
    """


@hookspec
def alexandrie_commands() -> list[click.Command] | None:
    """Return click commands to add to the ``alexandrie`` command line.

    The app is not built until a command needs it: decorate a callback with
    ``alexandrie.in_app`` to run it inside an app context with a database
    connection (models and backends usable). Returning None adds nothing.
    """


# --- Backends ----------------------------------------------------------------------------


@hookspec
def alexandrie_storage_backends() -> list[BackendSpec] | None:
    """Return the crate storage backends this plugin provides.

    ``[storage] type`` in the config picks one by name or alias. Returning None
    provides none.
    """


@hookspec
def alexandrie_index_backends() -> list[BackendSpec] | None:
    """Return additional index backends (git, ...) this plugin provides.

    ``[index] type`` in the config picks one by name or alias; the sparse index is
    always served. Returning None provides none.
    """


# --- Rendering ----------------------------------------------------------------------------


@hookspec(firstresult=True)
def alexandrie_render_readme(text: str, filename: str | None, repository: str | None) -> str | None:
    """Render a crate's README to safe HTML, once, when the version is published.

    ``filename`` is the README's path inside the package (its extension tells the
    format); ``repository`` is the crate's repository URL, for rewriting relative links.
    The HTML is stored and shown as is, so it must contain nothing that runs script.
    Stops at first non-None result: return None to let the next renderer try.
    """


# --- Authentication and permissions ---------------------------------------------------------


@hookspec(firstresult=True)
def alexandrie_authenticate_request(request: flask.Request) -> Identity | None:
    """Work out who sent an API or index request (for example from its ``Authorization`` token).

    Raise ``alexandrie.Forbidden`` to refuse a credential that is present but bad.
    Stops at first non-None result: return None when this plugin does not recognise
    the request, and the next plugin tries; when none does, the request is anonymous.
    """


@hookspec(firstresult=True)
def alexandrie_check_password(login: str, password: str) -> User | bool | None:
    """Check a login and password (browser sign-in).

    Return the ``User`` on success, ``False`` to refuse and stop, or None when this
    plugin does not know the login, so the next plugin tries. Stops at first non-None
    result.
    """


@hookspec
def alexandrie_permission_allowed(identity: Identity, action: str, crate: Crate | None) -> bool | None:
    """Decide whether ``identity`` may do ``action`` to ``crate``.

    Actions: ``publish-new`` (``crate`` is None), ``publish-update``, ``yank`` (also
    unyank) and ``change-owners``. Every implementation is asked: any False denies,
    otherwise any True allows; None means no opinion, and with no opinion at all the
    action is denied. To deny with your own message (cargo shows it), raise
    ``alexandrie.Forbidden("what is missing and how to get it")`` instead of
    returning False; the built-in token-scope and read-only checks do this.
    """


# --- Publishing ------------------------------------------------------------------------------


@hookspec
def alexandrie_validate_publish(new_version: NewVersion, identity: Identity) -> list[str] | str | None:
    """Vet a publish before anything is stored.

    Runs before the write transaction starts, after the upload's format, metadata and
    tarball are checked. Return one problem (a string) or several (a list of strings)
    to refuse the publish with a 400; cargo shows them to the user, so say what to
    change. Every implementation is asked. Return None (or an empty list) to accept.
    """


@hookspec
def alexandrie_event_in_transaction(event: Event) -> None:
    """Called for every state change inside its write transaction, just before the commit.

    Write rows that must exist exactly when the change does (the audit log, an outbox) with the
    ordinary models: they commit with the change and vanish with it. Raising rolls the change
    back and fails the request, so do no slow work and no I/O outside the database here. The
    return value is ignored.
    """


@hookspec
def alexandrie_event(event: Event) -> None:
    """Called for every state change (``alexandrie.events``) after it has been committed.

    Never called for a change that failed, and never inside its transaction: a plugin
    that writes to the database here writes in its own. An exception raised here is
    logged and does not fail the request. The return value is ignored.
    """
