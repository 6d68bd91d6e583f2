"""The browser UI's forms (flask-wtf: each carries a CSRF token)."""

from flask_wtf import FlaskForm
from wtforms import PasswordField, SelectField, SelectMultipleField, StringField, SubmitField, widgets
from wtforms.validators import EqualTo, InputRequired, Length, Optional, Regexp

from ..services.users import LOGIN, MIN_PASSWORD

try:  # WTForms 3.3 deprecates (value, label) tuples; older releases only know tuples
    from wtforms import SelectChoice
except ImportError:
    SelectChoice = None


def _choice(value: str, label: str):
    return SelectChoice(value, label) if SelectChoice is not None else (value, label)


class MultiCheckboxField(SelectMultipleField):
    widget = widgets.ListWidget(prefix_label=False)
    option_widget = widgets.CheckboxInput()


class LoginForm(FlaskForm):
    login = StringField("Login", validators=[InputRequired(), Length(max=64)],
                        render_kw={"autocomplete": "username", "autocapitalize": "none"})
    password = PasswordField("Password", validators=[InputRequired()],
                             render_kw={"autocomplete": "current-password"})
    submit = SubmitField("Sign in")


# One @, something before it, a dotted domain after it: enough to catch a login or a name typed in the wrong
# field; whether the mailbox exists only a sent mail can tell.
EMAIL = r"[^@\s]+@[^@\s]+\.[^@\s]+\Z"


class NewAccountForm(FlaskForm):
    """The fields every new account has, whoever creates it."""

    login = StringField("Login", validators=[
        InputRequired(), Regexp(LOGIN.pattern + r"\Z", message="1-64 letters, digits, _, - or ., starting with "
                                                                "a letter or digit")],
        render_kw={"autocomplete": "username", "autocapitalize": "none"})
    email = StringField("E-mail (optional)", validators=[
        Optional(), Length(max=254),
        Regexp(EMAIL, message="this is not an e-mail address: write it as name@example.com, or leave it empty")],
        render_kw={"autocomplete": "email", "type": "email"})
    password = PasswordField(f"Password (at least {MIN_PASSWORD} characters)", validators=[
        InputRequired(), Length(min=MIN_PASSWORD, max=1024)], render_kw={"autocomplete": "new-password"})


class RegisterForm(NewAccountForm):
    confirm = PasswordField("Repeat the password", validators=[
        InputRequired(), EqualTo("password", message="the two passwords differ")],
        render_kw={"autocomplete": "new-password"})
    submit = SubmitField("Create account")


class AdminCreateUserForm(NewAccountForm):
    """An administrator creates someone else's account (``/admin/users``)."""

    role = SelectField("Role", choices=[_choice("user", "user: publishes and manages their crates"),
                                        _choice("admin", "admin: everything, and these pages"),
                                        _choice("read-only", "read-only: reads and downloads, never publishes")],
                       default="user")
    submit = SubmitField("Create user")


class ChangePasswordForm(FlaskForm):
    current = PasswordField("Current password", validators=[InputRequired()],
                            render_kw={"autocomplete": "current-password"})
    password = PasswordField(f"New password (at least {MIN_PASSWORD} characters)", validators=[
        InputRequired(), Length(min=MIN_PASSWORD, max=1024)], render_kw={"autocomplete": "new-password"})
    confirm = PasswordField("Repeat the new password", validators=[
        InputRequired(), EqualTo("password", message="the two passwords differ")],
        render_kw={"autocomplete": "new-password"})
    submit = SubmitField("Change password")


class TokenForm(FlaskForm):
    label = StringField("Label (what the token is for, e.g. laptop or CI)",
                        validators=[InputRequired(), Length(max=128)])
    scopes = MultiCheckboxField("Scopes (none ticked: everything)", choices=[
        _choice("read", "read (private registries: index, downloads, search)"),
        _choice("publish-new", "publish new crates"), _choice("publish-update", "publish new versions"),
        _choice("yank", "yank and unyank"), _choice("change-owners", "change owners")], validate_choice=True)
    crates = StringField("Only crates named (comma-separated, a trailing * matches a prefix; empty: all)",
                         validators=[Optional(), Length(max=512)], render_kw={"placeholder": "my-team-*"})
    expires = SelectField("Expires", choices=[_choice("", "never"), _choice("7d", "in 7 days"),
                                              _choice("30d", "in 30 days"), _choice("90d", "in 90 days"),
                                              _choice("365d", "in a year")], default="")
    submit = SubmitField("Create token")


class ConfirmForm(FlaskForm):
    """A bare POST button (sign out, revoke): only the CSRF token."""

    submit = SubmitField("Confirm")
