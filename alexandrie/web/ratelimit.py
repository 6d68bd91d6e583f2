"""Rate limits (flask-limiter) on sign-in, registration, token creation and publish, set in ``[rate_limits]``.

A limited client gets 429 with ``Retry-After`` (cargo honours it, up to 10 s) and the
``{"errors": [...]}`` body. Counters live in ``[rate_limits] storage``: ``memory://`` (one
process) by default; for several instances, ``alexandrie-db://`` (the registry's database) or a
shared store such as ``redis://HOST:6379``.
"""

import contextlib
import time

import peewee
from flask import Flask, has_app_context, make_response, request
from flask_limiter import Limiter
from flask_limiter.errors import RateLimitExceeded
from limits import parse_many
from limits.storage import Storage

from ..db import connection, write_transaction
from ..errors import ConfigError
from ..models import RateLimitCounter as Row
from ..registry import registry
from ..rules.addresses import address_group
from .errors import error_response
from .identity import identity_or_none, signed_in_user


def client_address() -> str:
    """The client's address, an IPv6 one by its /64."""
    return f"ip:{address_group(request.remote_addr or '')}"


def account_key() -> str:
    """The login a sign-in names (as logins compare, case-insensitively), whatever address it comes from."""
    return f"account:{request.form.get('login', '').strip().lower()[:64]}"


def client_key() -> str:
    """The user (API token or browser session) when known, so users behind one proxy do not share a
    budget; else the client address."""
    identity = identity_or_none()
    user = identity.user if identity is not None else signed_in_user()
    return f"user:{user.login}" if user is not None else client_address()


def _wrong_password(response) -> bool:
    return response.status_code == 400  # the sign-in form's answer to a refused login or password


def _account_created(response) -> bool:
    return response.status_code == 302  # registration redirects only once the account exists


# Which endpoints each configured limit applies to, what it counts per, and which answers count (None:
# every request); endpoints that are not installed are skipped. Sign-in counts per address and, so that
# rotating addresses gain nothing, failed attempts per account name: the attacker is not signed in yet.
LIMITED_ENDPOINTS = {
    "publish": (("api.publish_crate",), ["PUT"], client_key, None),
    "login": (("account.login",), ["POST"], client_address, None),
    "login_per_account": (("account.login",), ["POST"], account_key, _wrong_password),
    "register": (("account.register",), ["POST"], client_address, _account_created),
    "token_create": (("account.tokens", "account.create_token", "account.new_token"), ["POST"], client_key, None),
}


def _check_only(app: Flask, limiter: Limiter, endpoints: set) -> None:
    """Run flask-limiter's per-request hooks (check, headers, clean-up) only on ``endpoints``, the only
    views with limits.

    They cost ~0.5 ms even when nothing applies (request filters do not skip them), and the index
    files cargo reads one after another are the requests that can least afford it.
    """
    for functions in (app.before_request_funcs, app.after_request_funcs, app.teardown_request_funcs):
        hooks = functions.get(None, [])
        for position, hook in enumerate(hooks):
            if getattr(hook, "__self__", None) is limiter or getattr(hook, "args", ())[:1] == (limiter,):
                hooks[position] = _only_on(endpoints, hook)


def _only_on(endpoints: set, hook):
    def hook_on_limited_endpoints(*args):
        if request.endpoint in endpoints:
            return hook(*args)
        return args[0] if args else None  # an after-request hook hands the response on
    return hook_on_limited_endpoints


class DatabaseStorage(Storage):
    """Counters in the registry's own database (``alexandrie-db://``): shared by every instance, no Redis needed.

    Supports the fixed-window strategy, which ``init_app`` picks for it.
    """

    STORAGE_SCHEME = ["alexandrie-db"]

    def __init__(self, uri: str, app: Flask | None = None, wrap_exceptions: bool = False, **options):
        super().__init__(uri, wrap_exceptions=wrap_exceptions, **options)
        self.app = app

    @property
    def base_exceptions(self):
        return peewee.DatabaseError

    def _db(self):
        stack = contextlib.ExitStack()
        if not has_app_context():  # a new app context would close the request's connection when popped
            stack.enter_context(self.app.app_context())
        stack.enter_context(connection())
        return stack

    def incr(self, key: str, expiry: int, amount: int = 1) -> int:
        now = time.time()
        with self._db(), write_transaction():
            live = (Row.key == key) & (Row.expires_at > now)
            if not Row.update(count=Row.count + amount).where(live).execute():
                Row.delete().where(Row.key == key).execute()
                Row.insert(key=key, count=amount, expires_at=now + expiry).execute()
            return Row.get(Row.key == key).count

    def get(self, key: str) -> int:
        with self._db():
            row = Row.get_or_none((Row.key == key) & (Row.expires_at > time.time()))
            return row.count if row else 0

    def get_expiry(self, key: str) -> float:
        with self._db():
            row = Row.get_or_none(Row.key == key)
            return row.expires_at if row else time.time()

    def check(self) -> bool:
        try:
            with self._db():
                Row.select().limit(1).exists()
            return True
        except peewee.DatabaseError:
            return False

    def reset(self) -> int:
        with self._db():
            return Row.delete().execute()

    def clear(self, key: str) -> None:
        with self._db():
            Row.delete().where(Row.key == key).execute()


def _checked_limit(name: str, value: str) -> str:
    """The limit as set, or a ``ConfigError`` at start-up rather than a 500 on the first limited request."""
    try:
        if value:
            parse_many(value)
    except ValueError as exc:
        raise ConfigError(f"[rate_limits] {name} = {value!r} is not a rate limit; write it like \"10/minute\" "
                          f"or \"10/minute;100/day\" ({exc})") from exc
    return value


def init_app(app: Flask) -> Limiter | None:
    settings = registry(app).settings.rate_limits
    if not settings.enabled:
        return None
    storage = settings.storage or "memory://"
    in_database = storage.startswith("alexandrie-db:")
    try:
        limiter = Limiter(client_key, app=app, storage_uri=storage,
                          storage_options={"app": app} if in_database else {},
                          strategy="fixed-window" if in_database else settings.strategy or "moving-window",
                          headers_enabled=False, key_prefix="alexandrie")  # our 429 handler sets Retry-After
    except Exception as exc:
        raise ConfigError(f"[rate_limits] storage = {settings.storage!r} cannot be used: {exc}; use "
                          "memory:// or a redis:// URI (pip install redis)") from exc
    limited = set()
    for name, (endpoints, methods, key, counts) in LIMITED_ENDPOINTS.items():
        value = _checked_limit(name, getattr(settings, name))
        for endpoint in endpoints:
            if value and endpoint in app.view_functions:
                app.view_functions[endpoint] = limiter.limit(value, methods=methods, key_func=key, deduct_when=counts)(
                    app.view_functions[endpoint])
                limited.add(endpoint)
    _check_only(app, limiter, limited)
    app.extensions["alexandrie_limiter"] = limiter

    @app.errorhandler(RateLimitExceeded)
    def _too_many(exc: RateLimitExceeded):
        current = limiter.current_limit
        wait = max(1, int(current.reset_at - time.time())) if current is not None else 60
        response = make_response(error_response(429, f"too many requests ({exc.description}); "
                                                     f"try again in {wait} seconds"))
        response.headers["Retry-After"] = str(wait)
        return response

    return limiter
