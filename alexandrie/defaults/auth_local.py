"""Built-in auth: API tokens from the ``Authorization`` header and local passwords."""

from alexandrie import hookimpl
from alexandrie.auth import password_matches, token_identity
from alexandrie.models import User


@hookimpl(trylast=True)
def alexandrie_authenticate_request(request):
    return token_identity(request.headers.get("Authorization"))


@hookimpl(trylast=True)
def alexandrie_check_password(login, password):
    user = User.get_or_none(User.login == login)
    if user is None:
        return None
    return user if user.is_active and password_matches(user, password) else False
