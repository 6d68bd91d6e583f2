"""Built-in auth: API tokens from the ``Authorization`` header and local passwords."""

from ..hookspecs import hookimpl
from ..services.tokens import token_identity
from ..services.users import check_sign_in


@hookimpl(trylast=True)
def alexandrie_authenticate_request(request):
    return token_identity(request.headers.get("Authorization"))


@hookimpl(trylast=True)
def alexandrie_check_password(login, password):
    return check_sign_in(login, password)
