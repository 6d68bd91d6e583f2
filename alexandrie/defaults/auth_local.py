"""Built-in auth: API tokens from the ``Authorization`` header and local passwords."""

from ..hookspecs import hookimpl
from ..models import User
from ..services.tokens import token_identity
from ..services.users import password_matches


@hookimpl(trylast=True)
def alexandrie_authenticate_request(request):
    return token_identity(request.headers.get("Authorization"))


@hookimpl(trylast=True)
def alexandrie_check_password(login, password):
    user = User.get_or_none(User.login == login)
    if user is None:
        return None
    return user if user.is_active and password_matches(user, password) else False
