"""Browser accounts: register, sign in and out, change the password, create and revoke API tokens."""

from flask import Blueprint, abort, flash, make_response, redirect, render_template, request, url_for
from flask_login import current_user, login_required, login_user, logout_user

from ...errors import AlexandrieError
from ...events import LoginFailedEvent
from ...models import ApiToken, User
from ...registry import registry
from ...rules.tokens import check_patterns, expiry_from
from ...services.changes import record
from ...services.tokens import create_token, revoke_token, tokens_of
from ...services.users import change_password, create_user, end_sessions
from ..forms import ChangePasswordForm, ConfirmForm, LoginForm, RegisterForm, TokenForm
from ..sessions import keep_session, protect_blueprint, registration_open, safe_next

bp = protect_blueprint(Blueprint("account", __name__, url_prefix="/account"))


def _check_password(login: str, password: str) -> User | None:
    """Ask the ``alexandrie_check_password`` plugins; None unless one returns an active user."""
    answer = registry().pm.hook.alexandrie_check_password(login=login, password=password)
    return answer if isinstance(answer, User) and answer.is_active else None


@bp.route("/login", methods=["GET", "POST"])
def login():
    form = LoginForm()
    next_url = safe_next(request.args.get("next"))
    if form.validate_on_submit():
        user = _check_password(form.login.data.strip(), form.password.data)
        if user is not None:
            login_user(user)
            return redirect(next_url or url_for("frontend.home"))
        record(LoginFailedEvent(actor=form.login.data.strip()[:64]))
        form.password.errors.append("Wrong login or password.")
    status = 400 if form.errors else 200
    return render_template("account/login.html", form=form, next_url=next_url), status


@bp.post("/logout")
def logout():
    if ConfirmForm().validate_on_submit():
        if current_user.is_authenticated:
            end_sessions(current_user._get_current_object())  # every browser, not only this one
        logout_user()
    return redirect(url_for("frontend.home"))


@bp.route("/register", methods=["GET", "POST"])
def register():
    if not registration_open():  # here, not only in the gates: a credential of any kind must not open it
        abort(403, "registration is closed on this registry; ask an administrator for an account")
    form = RegisterForm()
    if form.validate_on_submit():
        try:
            user = create_user(form.login.data, email=form.email.data or None, password=form.password.data,
                               actor=form.login.data)
        except AlexandrieError as exc:
            form.login.errors.append(exc.detail)
        else:
            login_user(user)
            flash(f"Welcome, {user.login}. Create an API token below to publish with cargo.")
            return redirect(url_for("account.tokens"))
    status = 400 if form.errors else 200
    return render_template("account/register.html", form=form), status


@bp.route("/", methods=["GET", "POST"])
@login_required
def settings():
    form = ChangePasswordForm()
    if form.validate_on_submit():
        if not change_password(current_user._get_current_object(), form.current.data, form.password.data):
            form.current.errors.append("This is not your current password.")
        else:
            keep_session(User.get_by_id(current_user.id))  # only the other sessions end
            flash("Your password was changed; you were signed out everywhere else.")
            return redirect(url_for("account.settings"))
    status = 400 if form.errors else 200
    return render_template("account/settings.html", form=form), status


@bp.route("/tokens", methods=["GET", "POST"])
@login_required
def tokens():
    form = TokenForm()
    new_token = None
    if form.validate_on_submit():
        try:
            _, new_token = create_token(current_user._get_current_object(), form.label.data.strip(),
                                        **_token_limits(form))
        except AlexandrieError as exc:
            form.crates.errors.append(exc.detail)
        else:
            form = TokenForm(formdata=None)
    status = 400 if form.errors else 200
    general = registry().settings.general
    response = make_response(render_template(
        "account/tokens.html", form=form, new_token=new_token, revoke_form=ConfirmForm(),
        tokens=tokens_of(current_user), registry_name=general.registry_name, public_url=general.public_url), status)
    response.headers["Cache-Control"] = "no-store"
    return response


def _token_limits(form: TokenForm) -> dict:
    """Scopes, crate patterns and expiry from the form (empty: unrestricted, as crates.io does)."""
    return {"scopes": form.scopes.data or None,
            "crate_patterns": check_patterns((form.crates.data or "").split(",")) or None,
            "expires_at": expiry_from(form.expires.data)}


@bp.post("/tokens/<int:token_id>/revoke")
@login_required
def revoke(token_id: int):
    if not ConfirmForm().validate_on_submit():
        abort(400, "the form was incomplete; reload the page and try again")
    token = ApiToken.get_or_none((ApiToken.id == token_id) & (ApiToken.user == current_user.id))
    if token is None:
        abort(404, "you have no such token")
    if revoke_token(token, actor=current_user.login):
        flash(f"Token “{token.label}” was revoked; cargo can no longer use it.")
    return redirect(url_for("account.tokens"))
