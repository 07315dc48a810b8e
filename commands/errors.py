"""Errors of the application services, beside the domain's own
(:mod:`aggregates.errors`). The API maps each to a problem document."""

from __future__ import annotations


class CommandError(Exception):
    code = "COMMAND_FAILED"
    status = 400

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class NotFound(CommandError):
    code = "NOT_FOUND"
    status = 404


class Conflict(CommandError):
    """Another command changed the aggregate first; reload and try again."""

    code = "CONFLICT"
    status = 409


class IdempotencyKeyReused(CommandError):
    code = "IDEMPOTENCY_KEY_REUSED"
    status = 422


class Unauthenticated(CommandError):
    code = "UNAUTHENTICATED"
    status = 401
