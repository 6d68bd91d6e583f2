"""What caches may keep: only what everyone may read is left for a shared cache (an nginx ``proxy_cache``, a CDN)
to store; an answer that may depend on who asks is ``private, no-store``. And ``nosniff`` on every response.

Whether an answer depends on who asks is read off the request, not the identity: on a registry with
``auth_required`` every answer does, and so may any answer to a request that carries an ``Authorization``
header or a cookie. A view that knows its answer is the same for everyone (the download of a crate anyone may
read) says so with ``public``; static files are the same for everyone too.
"""

from flask import Response, request

from ..registry import registry

PUBLIC_IMMUTABLE = "public, max-age=31536000, immutable"  # a version's .crate never changes
PRIVATE = "private, no-store"
NOSNIFF = ("X-Content-Type-Options", "nosniff")


def keep_private(response: Response) -> Response:
    """No cache but the asker's may store it, and a cache that ignores that still keys it on the credentials."""
    response.headers["Cache-Control"] = PRIVATE
    response.vary.update(("Authorization", "Cookie"))
    return response


def response_headers(response: Response) -> Response:
    """The after-request hook: ``nosniff``, and ``private`` for whatever may depend on credentials."""
    response.headers.setdefault(*NOSNIFF)
    if not _static_file() and _may_depend_on_credentials(response):
        control = response.cache_control
        if control.public or not (control.private or control.no_store):  # a view's stricter no-store stays
            response.headers["Cache-Control"] = PRIVATE
        response.vary.update(("Authorization", "Cookie"))
    return response


def _may_depend_on_credentials(response: Response) -> bool:
    if registry().settings.general.auth_required:
        return True
    return _carries_credentials() and not response.cache_control.public


def _carries_credentials() -> bool:
    return "Authorization" in request.headers or bool(request.cookies)


def _static_file() -> bool:
    endpoint = request.endpoint or ""
    return endpoint == "static" or endpoint.endswith(".static")
