"""Domain errors: the one root every business rule raises from.

Each error carries a stable upper-case ``code`` that the HTTP API turns into the
``code`` member of a problem document, and a message naming the bad value and,
where there is one, the fix.
"""

from __future__ import annotations


class DomainError(Exception):
    """A business rule refused a command."""

    code = "DOMAIN_RULE"
    status = 422

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


class InvalidValue(DomainError):
    """A value does not satisfy its format or range."""

    code = "INVALID_VALUE"

    def __init__(self, message: str, *, field: str, code: str | None = None) -> None:
        super().__init__(message, field=field)
        if code is not None:
            self.code = code


class StateConflict(DomainError):
    """The aggregate is not in a state that allows the command."""

    code = "INVALID_STATE"
    status = 409

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        if code is not None:
            self.code = code


class AlreadyTaken(DomainError):
    """A value that must be unique on the platform is already in use."""

    status = 409

    def __init__(self, message: str, *, field: str, code: str) -> None:
        super().__init__(message, field=field)
        self.code = code
