"""What the signatures on a PDF prove, for people deciding whether to accept
a qualification document.

:func:`verify` runs pyhanko's validator on every signature with the trust
roots and CRLs it is given (and, unless asked, fetches nothing), and reports
per signature the separate questions a reviewer asks: is it intact, what
does it cover, was the file changed afterwards in a way that is not allowed,
does the certificate chain to a root we trust, is it revoked, was it valid
when the seal was made, is there a timestamp — and one overall ``valid``
(pyhanko's bottom line, never true for a revoked certificate).

Trust and revocation are judged now (pyhanko's default validation time), so
a seal made with a certificate that has since expired is not ``valid`` any
more, while ``valid_at_signing`` may still say it was good when made.
"""

from __future__ import annotations

import datetime as dt
import io
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.serialization import Encoding
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.validation import async_validate_pdf_signature
from pyhanko.sign.validation.errors import SignatureValidationError
from pyhanko.sign.validation.pdf_embedded import EmbeddedPdfSignature
from pyhanko.sign.validation.status import PdfSignatureStatus, SignatureCoverageLevel
from pyhanko_certvalidator import ValidationContext

from signing_service.documents import PARSE_ERRORS
from signing_service.errors import SealError
from signing_service.pades import run
from signing_service.signers import AnyCertificate, as_asn1_certificate, as_x509

__all__ = ["SignatureReport", "TimestampReport", "VerificationReport", "verify"]

Coverage = Literal["entire_file", "entire_revision", "partial"]

_COVERAGE: dict[SignatureCoverageLevel, Coverage] = {
    SignatureCoverageLevel.ENTIRE_FILE: "entire_file",
    SignatureCoverageLevel.ENTIRE_REVISION: "entire_revision",
}


@dataclass(frozen=True)
class TimestampReport:
    """The signature's timestamp token (PAdES B-T)."""

    time: dt.datetime
    authority: str  # the TSA certificate's subject
    intact: bool
    trusted: bool


@dataclass(frozen=True)
class SignatureReport:
    """One signature (one seal) on the document."""

    field_name: str
    signer_common_name: str | None
    signer_organisation: str | None
    signer_organisation_identifier: str | None  # "NTRCN-<USCC>" for our CA
    certificate_serial: str  # hex
    signing_time: dt.datetime | None  # the timestamp's, else the claimed one
    intact: bool
    coverage: Coverage
    modified_after: bool
    modification_level: str | None
    chain_trusted: bool
    revoked: bool | None
    valid_at_signing: bool
    timestamp: TimestampReport | None
    valid: bool
    problems: tuple[str, ...] = ()


@dataclass(frozen=True)
class VerificationReport:
    """Every signature on the document, in the order they were made."""

    signatures: list[SignatureReport] = field(default_factory=list)

    @property
    def valid(self) -> bool:
        """At least one signature, and all of them valid."""
        return bool(self.signatures) and all(s.valid for s in self.signatures)

    def as_json(self) -> dict[str, Any]:
        """The report as a JSON-ready object (times in ISO 8601)."""
        return {
            "valid": self.valid,
            "signatures": [_jsonable(asdict(s)) for s in self.signatures],
        }


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, dt.datetime):
        return value.isoformat()
    return value


def _name_part(cert: asn1_x509.Certificate, key: str) -> str | None:
    value = cert.subject.native.get(key)
    if isinstance(value, list):  # a multi-valued attribute: take the first
        value = value[0] if value else None
    return None if value is None else str(value)


def _revocation(
    cert: x509.Certificate,
    crls: Sequence[x509.CertificateRevocationList],
    issuers: Sequence[x509.Certificate],
) -> tuple[bool | None, dt.datetime | None]:
    """Whether a CRL from the certificate's issuer, signed by that issuer,
    lists it: ``None`` when no such CRL was given."""
    answer: bool | None = None
    for crl in crls:
        if crl.issuer != cert.issuer:
            continue
        for issuer in issuers:
            if issuer.subject != crl.issuer:
                continue
            try:
                if not crl.is_signature_valid(issuer.public_key()):  # type: ignore[arg-type]
                    continue
            except (InvalidSignature, TypeError, ValueError):
                continue
            entry = crl.get_revoked_certificate_by_serial_number(cert.serial_number)
            if entry is not None:
                return True, entry.revocation_date_utc
            answer = False
    return answer, None


def _within(cert: x509.Certificate, when: dt.datetime | None) -> bool:
    if when is None:
        return False
    return cert.not_valid_before_utc <= when <= cert.not_valid_after_utc


def _report(
    sig: EmbeddedPdfSignature,
    status: PdfSignatureStatus,
    crls: Sequence[x509.CertificateRevocationList],
    issuers: Sequence[x509.Certificate],
) -> SignatureReport:
    asn1_cert = sig.signer_cert
    cert = as_x509(asn1_cert)
    problems: list[str] = []

    ts_status = status.timestamp_validity
    timestamp = None
    if ts_status is not None:
        timestamp = TimestampReport(
            time=ts_status.timestamp,
            authority=ts_status.signing_cert.subject.human_friendly,
            intact=bool(ts_status.intact and ts_status.valid),
            trusted=bool(ts_status.trusted),
        )
        if not timestamp.trusted:
            problems.append("the timestamp is not trusted")
    claimed = status.signer_reported_dt or sig.self_reported_timestamp
    signing_time = timestamp.time if timestamp and timestamp.intact else claimed

    coverage: Coverage = "partial"
    if status.coverage is not None:
        coverage = _COVERAGE.get(status.coverage, "partial")
    intact = bool(status.intact and status.valid) and coverage != "partial"
    if not status.intact:
        problems.append("the document's digest does not match the signature")
    elif not status.valid:
        problems.append("the signature value does not verify")
    if coverage == "partial":
        problems.append("the signature covers only part of its revision")
    modified_after = coverage == "entire_revision" and not status.docmdp_ok
    if modified_after:
        problems.append("the document was changed after sealing in a way not allowed")
    level = status.modification_level

    revoked, revoked_at = _revocation(cert, crls, issuers)
    if status.revoked:
        revoked = True
        if revoked_at is None and status.revocation_details is not None:
            revoked_at = status.revocation_details.revocation_date
    if revoked:
        problems.append("the certificate is revoked")
    chain_trusted = status.validation_path is not None or bool(status.revoked)
    if not chain_trusted:
        problems.append("the certificate does not chain to a trusted root")

    valid_at_signing = (
        intact
        and chain_trusted
        and _within(cert, signing_time)
        and not (
            revoked
            and (
                revoked_at is None or signing_time is None or revoked_at <= signing_time
            )
        )
    )
    valid = bool(status.bottom_line) and intact and not revoked
    if chain_trusted and not revoked and intact and not status.trusted:
        indication = status.trust_problem_indic
        why = "" if indication is None else f" ({indication.standard_name})"
        problems.append(f"the certificate cannot be validated now{why}")
    return SignatureReport(
        field_name=str(sig.field_name),
        signer_common_name=_name_part(asn1_cert, "common_name"),
        signer_organisation=_name_part(asn1_cert, "organization_name"),
        signer_organisation_identifier=_name_part(asn1_cert, "organization_identifier"),
        certificate_serial=format(cert.serial_number, "x"),
        signing_time=signing_time,
        intact=intact,
        coverage=coverage,
        modified_after=modified_after,
        modification_level=None if level is None else level.name,
        chain_trusted=chain_trusted,
        revoked=revoked,
        valid_at_signing=valid_at_signing,
        timestamp=timestamp,
        valid=valid,
        problems=tuple(problems),
    )


def _unreadable(sig: EmbeddedPdfSignature, reason: str) -> SignatureReport:
    try:
        name = str(sig.field_name)
    except PARSE_ERRORS:
        name = ""
    return SignatureReport(
        field_name=name,
        signer_common_name=None,
        signer_organisation=None,
        signer_organisation_identifier=None,
        certificate_serial="",
        signing_time=None,
        intact=False,
        coverage="partial",
        modified_after=False,
        modification_level=None,
        chain_trusted=False,
        revoked=None,
        valid_at_signing=False,
        timestamp=None,
        valid=False,
        problems=(reason,),
    )


def verify(
    pdf: bytes,
    trust_roots: Sequence[AnyCertificate],
    crls: Sequence[x509.CertificateRevocationList] = (),
    *,
    allow_fetching: bool = False,
) -> VerificationReport:
    """Check every signature on ``pdf`` against ``trust_roots`` and ``crls``;
    ``BROKEN_PDF`` (422) for a file that cannot be read. A PDF without
    signatures gives an empty report (whose ``valid`` is false)."""
    try:
        reader = PdfFileReader(io.BytesIO(pdf), strict=False)
        if reader.encrypted:
            raise SealError("BROKEN_PDF", "the PDF document is encrypted")
        embedded = list(reader.embedded_regular_signatures)
    except SealError:
        raise
    except PARSE_ERRORS as e:
        raise SealError("BROKEN_PDF", "the PDF document cannot be read") from e
    roots = [as_asn1_certificate(c) for c in trust_roots]
    crl_der = [c.public_bytes(Encoding.DER) for c in crls]
    issuers = [as_x509(c) for c in trust_roots]
    reports = []
    for sig in embedded:
        context = ValidationContext(
            trust_roots=roots, crls=crl_der, allow_fetching=allow_fetching
        )
        embedded_issuers = issuers + [as_x509(c) for c in sig.other_embedded_certs]
        try:
            status = run(async_validate_pdf_signature(sig, context))
        except (SignatureValidationError, *PARSE_ERRORS):  # type: ignore[misc]
            reports.append(_unreadable(sig, "the signature cannot be read"))
            continue
        reports.append(_report(sig, status, crls, embedded_issuers))
    return VerificationReport(signatures=reports)
