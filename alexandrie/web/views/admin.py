"""Admin pages at ``/admin``: users and roles, crates (ownership, deletion, read access, limits) and the audit log.

Part of the browser UI. Only signed-in admins reach it; everyone else gets a 404, so the pages do
not advertise themselves. Plugins add their own admin pages to the navigation (``alexandrie_admin_links``).
"""

from flask import Blueprint, Response, abort, flash, redirect, render_template, request, url_for
from flask.blueprints import BlueprintSetupState
from flask_login import current_user
from peewee import fn

from ...config import POLICY_LIMITS
from ...errors import AlexandrieError, BadRequest
from ...models import Crate, User, Version, login_key
from ...registry import registry
from ...rules.names import canonical_name
from ...services import crates as crate_service
from ...services import users as user_service
from ...services.audit import ACTIONS, as_dict, events, export_lines
from ...services.crate_limits import limits_for, overrides_of, set_overrides
from ...services.crates import change_read_access, dependents_of, find_crate, owners_of
from ...services.visibility import is_restricted, readers_of
from ..forms import AdminCreateUserForm
from ..pagination import filter_text, paginate
from ..sessions import keep_session, protect_blueprint

bp = protect_blueprint(Blueprint("admin", __name__, url_prefix="/admin"))
PER_PAGE = 30
AUDIT_PAGE = 100


@bp.record_once
def _plugin_links(state: BlueprintSetupState) -> None:
    """The plugins' admin pages, linked from every admin page's navigation (``admin/nav.html``)."""
    app = state.app
    answers = registry(app).pm.hook.alexandrie_admin_links(app=app)
    app.jinja_env.globals["admin_links"] = tuple(link for links in answers for link in links or ())


@bp.before_request
def _admins_only():
    if not (current_user.is_authenticated and current_user.is_active and current_user.is_admin):
        abort(404)


def _actor() -> str:
    return current_user.login


def _done(message: str, target: str):
    flash(message)
    return redirect(target)


def _attempt(action, success: str, target: str):
    """Run an admin action; its refusal (e.g. the deletion policy) is shown instead of an error page."""
    try:
        action()
    except AlexandrieError as exc:
        return _done(f"Refused: {exc.detail}", target)
    return _done(success, target)


@bp.get("/")
def overview():
    return render_template("admin/overview.html", users=User.select().count(), crates=Crate.select().count(),
                           recent=[as_dict(e) for e in events(newest_first=True).limit(10)])


# --- Users ----------------------------------------------------------------------------------------


@bp.route("/users", methods=["GET", "POST"])
def users():
    """The accounts, a page at a time (``?q=`` filters by login or e-mail), and the form that creates one."""
    form = AdminCreateUserForm()
    if form.validate_on_submit():
        try:
            created = _create_user(form)
        except AlexandrieError as exc:
            form.login.errors.append(exc.detail)
        else:
            return _done(f"{created.login}: created as {form.role.data}", url_for("admin.users", q=created.login))
    wanted = filter_text()
    accounts = User.select()
    if wanted:
        accounts = accounts.where(User.login_key.contains(login_key(wanted))
                                  | fn.LOWER(User.email).contains(wanted.lower()))
    return render_template("admin/users.html", page=paginate(accounts.order_by(User.login_key), PER_PAGE),
                           filter_text=wanted, form=form), 400 if form.errors else 200


def _create_user(form: AdminCreateUserForm) -> User:
    role = form.role.data
    return user_service.create_user(form.login.data, email=form.email.data or None, password=form.password.data,
                                    is_admin=role == "admin", is_read_only=role == "read-only", actor=_actor())


@bp.post("/users/<login>")
def user_action(login):
    target = url_for("admin.users")
    action = request.form.get("action", "")
    simple = {
        "disable": lambda: user_service.set_active(login, False, _actor()),
        "enable": lambda: user_service.set_active(login, True, _actor()),
        "make-admin": lambda: user_service.set_roles(login, _actor(), admin=True),
        "remove-admin": lambda: user_service.set_roles(login, _actor(), admin=False),
        "make-read-only": lambda: user_service.set_roles(login, _actor(), read_only=True),
        "remove-read-only": lambda: user_service.set_roles(login, _actor(), read_only=False),
        "reset-password": lambda: _reset_password(login, request.form.get("password", "")),
    }
    if action not in simple:
        abort(400, f"unknown action {action!r}")
    if _is_me(login) and action in ("disable", "remove-admin"):
        return _done("Refused: you cannot disable or demote yourself; ask another admin", target)
    return _attempt(simple[action], f"{login}: {action.replace('-', ' ')} done", target)


def _is_me(login: str) -> bool:
    return login_key(login) == current_user.login_key


def _reset_password(login: str, password: str) -> None:
    """Ends the user's browser sessions; an admin resetting their own password keeps this one."""
    user_service.reset_password(login, password, _actor())
    if _is_me(login):
        keep_session(User.get_by_id(current_user.id))


# --- Crates ---------------------------------------------------------------------------------------


@bp.get("/crates")
def crates():
    """Every crate, restricted ones too, a page at a time (``?q=`` filters by name)."""
    wanted = filter_text()
    query = Crate.select()
    if wanted:
        query = query.where(Crate.canonical_name.contains(canonical_name(wanted)))
    page = paginate(query.order_by(Crate.canonical_name), PER_PAGE)
    details = {c.id: {"owners": [u.login for u in owners_of(c)], "restricted": is_restricted(c),
                      "readers": readers_of(c)} for c in page.items}
    return render_template("admin/crates.html", page=page, details=details, filter_text=wanted)


@bp.get("/crates/<name>")
def crate(name):
    found = find_crate(name)
    wanted = filter_text()
    versions = Version.select().where(Version.crate == found)
    if wanted:
        versions = versions.where(Version.num.startswith(wanted))
    return render_template("admin/crate.html", crate=found, owners=[u.login for u in owners_of(found)],
                           page=paginate(versions.order_by(Version.id.desc()), PER_PAGE), filter_text=wanted,
                           restricted=is_restricted(found), readers=readers_of(found),
                           dependents=dependents_of(found), overrides=overrides_of(found),
                           limits={key: getattr(limits_for(found), key) for key in POLICY_LIMITS})


@bp.post("/crates/<name>")
def crate_action(name):
    found = find_crate(name)
    target = url_for("admin.crate", name=found.name)
    action = request.form.get("action", "")
    force = request.form.get("force") == "yes"
    if action == "transfer":
        return _attempt(lambda: crate_service.transfer_ownership(found.name, request.form.get("login", "").strip(),
                                                                 _actor()),
                        f"{found.name} now belongs to {request.form.get('login')}", target)
    if action == "delete-version":
        num = request.form.get("version", "")
        return _attempt(lambda: crate_service.delete_version(found.name, num, _actor(), force=force),
                        f"deleted {found.name} {num}", target)
    if action == "delete-crate":
        if request.form.get("confirm") != found.name:
            return _done(f"Refused: type the crate name `{found.name}` to confirm the deletion", target)
        return _attempt(lambda: crate_service.delete_crate(found.name, _actor(), force=force),
                        f"deleted {found.name}", url_for("admin.crates"))
    if action in ("restrict", "unrestrict"):
        return _attempt(lambda: change_read_access(found.name, _actor(), restricted=action == "restrict"),
                        f"{found.name}: {action}ed", target)
    if action == "limits":
        return _attempt(lambda: set_overrides(found.name, _actor(), _limit_fields()), f"{found.name}: limits saved",
                        target)
    if action in ("add-reader", "remove-reader"):
        reader = [request.form.get("reader", "").strip()]
        changes = {"add_readers": reader} if action == "add-reader" else {"remove_readers": reader}
        return _attempt(lambda: change_read_access(found.name, _actor(), **changes),
                        f"{found.name}: readers updated", target)
    abort(400, f"unknown action {action!r}")


def _limit_fields() -> dict[str, int | None]:
    """The form's limits: a number overrides, an empty field goes back to the configured value."""
    fields = {}
    for key in POLICY_LIMITS:
        raw = request.form.get(key, "").strip()
        if raw and not raw.isdigit():
            raise BadRequest(f"{key} takes a whole number; leave it empty for the configured value")
        fields[key] = int(raw) if raw else None
    return fields


# --- Audit log ------------------------------------------------------------------------------------


def _audit_filters() -> dict:
    return {key: request.args.get(key, "").strip() or None for key in ("action", "actor", "crate")}


@bp.get("/audit")
def audit():
    filters = _audit_filters()
    page = paginate(events(**filters, newest_first=True), AUDIT_PAGE)
    return render_template("admin/audit.html", page=page, events=[as_dict(e) for e in page.items],
                           filters=filters, actions=ACTIONS)


@bp.get("/audit.jsonl")
def audit_export():
    body = "".join(line + "\n" for line in export_lines(**_audit_filters()))
    return Response(body, mimetype="application/x-ndjson",
                    headers={"Content-Disposition": 'attachment; filename="alexandrie-audit.jsonl"',
                             "Cache-Control": "no-store"})
