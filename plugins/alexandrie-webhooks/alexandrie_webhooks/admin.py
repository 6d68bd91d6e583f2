"""``/admin/webhooks``: endpoints, delivery counts and the latest attempts, for signed-in admins (404 otherwise)."""

from pathlib import Path

import peewee
from flask import Blueprint, abort, current_app, render_template, request
from flask_login import current_user

from .models import STATUSES, WebhookDelivery
from .state import webhooks_of

bp = Blueprint("webhooks_admin", __name__, url_prefix="/admin/webhooks",
               template_folder=str(Path(__file__).parent / "templates"))
PAGE = 100


@bp.before_request
def _admins_only():
    if not (current_user.is_authenticated and current_user.is_active and current_user.is_admin):
        abort(404)


@bp.get("/")
def deliveries():
    status = request.args.get("status") if request.args.get("status") in STATUSES else None
    query = WebhookDelivery.select().order_by(WebhookDelivery.id.desc()).limit(PAGE)
    if status:
        query = query.where(WebhookDelivery.status == status)
    counts = {(url, state): n for url, state, n in
              WebhookDelivery.select(WebhookDelivery.endpoint_url, WebhookDelivery.status,
                                     peewee.fn.COUNT(WebhookDelivery.id))
              .group_by(WebhookDelivery.endpoint_url, WebhookDelivery.status).tuples()}
    settings = webhooks_of(current_app).settings
    return render_template("webhooks/admin.html", endpoints=settings.endpoints, counts=counts, statuses=STATUSES,
                           rows=list(query), status=status, settings=settings, admin_nav=_has_admin_nav())


def _has_admin_nav() -> bool:
    return "admin.overview" in current_app.view_functions
