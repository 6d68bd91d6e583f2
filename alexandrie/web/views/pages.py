"""Pages outside the API: ``/me`` (what ``cargo login`` points to) and ``/health``."""

import logging
import re

from flask import Blueprint, current_app, jsonify, render_template, url_for
from markupsafe import Markup, escape

from ...db import database
from ...registry import registry

bp = Blueprint("pages", __name__)
log = logging.getLogger(__name__)
CODE_SPAN = re.compile(r"`([^`]+)`")


@bp.app_template_filter("code_spans")
def code_spans(text: str) -> Markup:
    """An error's detail for a page: its `backticked` names (written for cargo's terminal) as <code>."""
    return Markup(CODE_SPAN.sub(r"<code>\1</code>", str(escape(text))))


@bp.get("/me")
def me():
    """How to get an API token; the account page when the web UI provides one."""
    general = registry().settings.general
    account_url = url_for("account.tokens") if "account.tokens" in current_app.view_functions else None
    return render_template("me.html", public_url=general.public_url, registry_name=general.registry_name,
                           account_url=account_url)


@bp.get("/health")
def health():
    """200 when the database, storage and index can be used; 503 naming what is wrong."""
    state = registry()
    checks = {"database": lambda: database.execute_sql("SELECT 1").fetchone(),
              "storage": state.storage.check, "index": state.index.check}
    problems = {}
    for name, check in checks.items():
        try:
            check()
        except Exception as exc:
            log.warning("health check %s failed: %s", name, exc)
            problems[name] = str(exc) or type(exc).__name__
    status = 503 if problems else 200
    body = {"status": "unavailable" if problems else "ok",
            "checks": {name: problems.get(name, "ok") for name in checks}}
    return jsonify(body), status
