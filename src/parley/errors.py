"""Domain errors raised by services; each surface turns them into its own error format."""

from __future__ import annotations


class ParleyError(Exception):
    status_code = 400

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidInputError(ParleyError):
    status_code = 400


class UnprocessableError(ParleyError):
    status_code = 422


class AuthenticationError(ParleyError):
    status_code = 401


class PermissionDeniedError(ParleyError):
    status_code = 403


class NotFoundError(ParleyError):
    """Also what a caller gets for another tenant's ids: their existence is not revealed."""

    status_code = 404

    def __init__(self, entity: str, message: str | None = None) -> None:
        super().__init__(message or f"{entity} not found.")
        self.entity = entity


class ConflictError(ParleyError):
    status_code = 409


class PayloadTooLargeError(ParleyError):
    status_code = 413


class RateLimitedError(ParleyError):
    status_code = 429

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after
