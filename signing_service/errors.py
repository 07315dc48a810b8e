"""Errors of the signing service.

Every failure the service reports carries a stable, upper-case ``code`` that
API clients can switch on, an HTTP-ish ``status`` the API layer can answer
with, and a ``message`` for people. Errors raised by pyhanko, pikepdf,
pypdfium2, Pillow or ``cryptography`` are translated at the boundary where
they occur and chained with ``from``.

Messages never contain key material, passphrases or secrets: they name what
was wrong (a wrong passphrase, a broken file), not the values involved.
"""

from __future__ import annotations

from typing import Any

__all__ = ["CaError", "SealError", "SigningServiceError"]


class SigningServiceError(Exception):
    """Root of the signing service's errors."""

    def __init__(self, code: str, message: str, status: int = 422) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.status = status

    def as_dict(self) -> dict[str, Any]:
        """The error as a JSON-ready object: ``{"code": ..., "message": ...}``."""
        return {"code": self.code, "message": self.message}


class CaError(SigningServiceError):
    """The platform certificate authority refused or failed an operation.

    Codes: ``CA_EXISTS`` (409), ``CA_NOT_FOUND`` (404), ``CA_LOCKED`` (403,
    wrong passphrase), ``CA_STATE_BROKEN`` (500), ``INVALID_USCC`` (422),
    ``INVALID_ENTERPRISE_NAME`` (422), ``UNKNOWN_SERIAL`` (404),
    ``INVALID_VALIDITY`` (422), ``INVALID_REVOCATION_REASON`` (422),
    ``KEY_SECRET_INVALID`` (422, empty), ``KEY_SECRET_WRONG`` (403),
    ``KEY_BLOB_INVALID`` (422), ``UNSUPPORTED_KEY`` (422).
    """


class SealError(SigningServiceError):
    """A document could not be sealed, prepared or verified.

    Codes: ``BROKEN_PDF`` (422, also for encrypted PDFs),
    ``UNSUPPORTED_IMAGE`` (415), ``BROKEN_IMAGE`` (422),
    ``IMAGE_TOO_LARGE`` (413), ``SEAL_IMAGE_INVALID`` (422),
    ``SEAL_OVERLAP`` (409), ``SEAL_PLACEMENT_INVALID`` (422),
    ``KEYWORD_NOT_FOUND`` (422), ``SIGNER_UNSUITABLE`` (422),
    ``EXTERNAL_SIGNATURE_INVALID`` (422), ``PENDING_SIGNATURE_INVALID`` (422),
    ``TIMESTAMP_FAILED`` (502; 422 when the timestamper is missing).
    """
