"""Error types: request errors carry an HTTP status, start-up errors say how to fix the config."""


class AlexandrieError(Exception):
    """A refused request. ``detail`` is shown to the user, so it says what to do."""

    status = 400

    def __init__(self, detail: str, status: int | None = None):
        super().__init__(detail)
        self.detail = detail
        if status is not None:
            self.status = status


class BadRequest(AlexandrieError):
    status = 400


class Unauthorized(AlexandrieError):
    status = 401


class Forbidden(AlexandrieError):
    status = 403


class NotFound(AlexandrieError):
    status = 404


class Conflict(AlexandrieError):
    status = 409


class PayloadTooLarge(AlexandrieError):
    status = 413


class ConfigError(Exception):
    """The configuration cannot work; raised at start-up with the fix in the message."""


class StorageUnavailable(AlexandrieError):
    """The crate storage cannot be reached; the request changed nothing and may be retried."""

    status = 503
