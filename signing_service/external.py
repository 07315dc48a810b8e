"""Sealing with a key that never leaves a hardware token (interrupted signing).

The platform cannot call the token: the enterprise's browser or device
bridge can. So sealing is cut in two, following pyhanko's interrupted
signing workflow:

1. :meth:`~signing_service.sealing.Sealer.prepare_external` writes the
   document with the seal widgets and an empty signature placeholder,
   digests it, and builds the CMS signed attributes (PAdES: content type,
   message digest, signing-certificate-v2). It returns a
   :class:`PendingSignature` to keep on the server and the DER of those
   signed attributes: the exact bytes the token signs.
2. The token signs them: ``CKM_SHA256_RSA_PKCS`` for RSA, or SHA-256 then
   ``CKM_ECDSA`` for EC. An ECDSA value may come back DER-encoded or as the
   raw ``r || s`` PKCS#11 returns; both are accepted.
3. :func:`complete_external` checks the value against the certificate
   (a wrong one is refused rather than embedded as a broken signature),
   wraps it in the CMS object and fills the placeholder; with a timestamper
   the signature also gets its timestamp token (PAdES B-T) here.

A :class:`PendingSignature` holds the prepared document and digest, so it
can be parked between two HTTP requests (:meth:`PendingSignature.to_json`)
but it is server-side state: give the client only the bytes to sign.
"""

from __future__ import annotations

import base64
import io
import json
from dataclasses import dataclass
from typing import Any

from asn1crypto import cms
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import (
    decode_dss_signature,
    encode_dss_signature,
)
from pyhanko.sign.signers import ExternalSigner
from pyhanko.sign.signers.pdf_byterange import PreparedByteRangeDigest
from pyhanko.sign.signers.pdf_cms import PdfCMSSignedAttributes
from pyhanko.sign.signers.pdf_signer import PdfTBSDocument
from pyhanko.sign.timestamps import TimeStamper
from pyhanko_certvalidator.registry import SimpleCertificateStore

from signing_service.errors import SealError
from signing_service.pades import SealJob, pdf_signer, run, stage
from signing_service.signers import AnyCertificate, as_asn1_certificate, as_x509

__all__ = ["PendingSignature", "complete_external", "prepare"]

_MD = "sha256"
# Room the estimate keeps for the token's signature value: enough for RSA
# 4096 and any ECDSA curve in use.
_SIGNATURE_ROOM = 512


@dataclass(frozen=True)
class PendingSignature:
    """What :func:`complete_external` needs to finish a prepared seal."""

    field_name: str
    prepared_pdf: bytes
    document_digest: bytes
    reserved_region_start: int
    reserved_region_end: int
    signed_attributes: bytes  # DER; the bytes the token signs
    signing_cert: bytes  # DER
    chain: tuple[bytes, ...]  # DER
    timestamped: bool

    def to_json(self) -> str:
        """The state as one JSON object (binary fields in base64)."""
        raw: dict[str, Any] = {
            "field_name": self.field_name,
            "reserved_region_start": self.reserved_region_start,
            "reserved_region_end": self.reserved_region_end,
            "timestamped": self.timestamped,
        }
        for key in (
            "prepared_pdf",
            "document_digest",
            "signed_attributes",
            "signing_cert",
        ):
            raw[key] = base64.b64encode(getattr(self, key)).decode()
        raw["chain"] = [base64.b64encode(c).decode() for c in self.chain]
        return json.dumps(raw)

    @classmethod
    def from_json(cls, text: str) -> PendingSignature:
        try:
            raw = json.loads(text)
            b = base64.b64decode
            return cls(
                field_name=str(raw["field_name"]),
                prepared_pdf=b(raw["prepared_pdf"]),
                document_digest=b(raw["document_digest"]),
                reserved_region_start=int(raw["reserved_region_start"]),
                reserved_region_end=int(raw["reserved_region_end"]),
                signed_attributes=b(raw["signed_attributes"]),
                signing_cert=b(raw["signing_cert"]),
                chain=tuple(b(c) for c in raw["chain"]),
                timestamped=bool(raw["timestamped"]),
            )
        except (ValueError, KeyError, TypeError) as e:
            raise SealError(
                "PENDING_SIGNATURE_INVALID", "the pending signature state is damaged"
            ) from e


def _registry(chain: tuple[bytes, ...]) -> SimpleCertificateStore:
    certs = [asn1_x509.Certificate.load(c) for c in chain]
    return SimpleCertificateStore.from_certs(certs)  # type: ignore[no-any-return, no-untyped-call]


async def _prepare(
    job: SealJob,
    cert: asn1_x509.Certificate,
    chain: tuple[bytes, ...],
    timestamper: TimeStamper | None,
    reason: str | None,
) -> tuple[PendingSignature, bytes]:
    placeholder = ExternalSigner(
        signing_cert=cert,
        cert_registry=_registry(chain),
        signature_value=_SIGNATURE_ROOM,
    )
    signer = pdf_signer(job, placeholder, timestamper=timestamper, reason=reason)
    staged = await stage(job, signer)
    signed_attrs = await placeholder.signed_attrs(
        staged.digest.document_digest,
        _MD,
        attr_settings=PdfCMSSignedAttributes(signing_time=staged.signing_time),
        use_pades=True,
    )
    tbs = signed_attrs.dump()
    pending = PendingSignature(
        field_name=job.field_name,
        prepared_pdf=staged.output.getvalue(),
        document_digest=staged.digest.document_digest,
        reserved_region_start=staged.digest.reserved_region_start,
        reserved_region_end=staged.digest.reserved_region_end,
        signed_attributes=tbs,
        signing_cert=cert.dump(),
        chain=chain,
        timestamped=timestamper is not None,
    )
    return pending, tbs


def prepare(
    job: SealJob,
    signing_cert: AnyCertificate,
    chain: tuple[AnyCertificate, ...],
    *,
    timestamper: TimeStamper | None = None,
    reason: str | None = None,
) -> tuple[PendingSignature, bytes]:
    """Stage ``job`` for a token; see the module docstring."""
    cert = as_asn1_certificate(signing_cert)
    public_key = as_x509(cert).public_key()
    if not isinstance(public_key, rsa.RSAPublicKey | ec.EllipticCurvePublicKey):
        raise SealError("SIGNER_UNSUITABLE", "only RSA and EC token keys are supported")
    chain_der = tuple(as_asn1_certificate(c).dump() for c in chain)
    return run(_prepare(job, cert, chain_der, timestamper, reason))


def _normalise_signature(public_key: Any, value: bytes) -> bytes:
    """ECDSA as DER ``SEQUENCE {r, s}``; raw ``r || s`` is converted."""
    if not isinstance(public_key, ec.EllipticCurvePublicKey):
        return value
    try:
        r, s = decode_dss_signature(value)
        if encode_dss_signature(r, s) == value:
            return value
    except ValueError:
        pass
    size = (public_key.curve.key_size + 7) // 8
    if len(value) != 2 * size:
        raise SealError(
            "EXTERNAL_SIGNATURE_INVALID", "the ECDSA signature value is malformed"
        )
    return encode_dss_signature(
        int.from_bytes(value[:size], "big"), int.from_bytes(value[size:], "big")
    )


def _check_signature(cert: x509.Certificate, value: bytes, tbs: bytes) -> None:
    public_key = cert.public_key()
    try:
        if isinstance(public_key, rsa.RSAPublicKey):
            public_key.verify(value, tbs, padding.PKCS1v15(), hashes.SHA256())
        elif isinstance(public_key, ec.EllipticCurvePublicKey):
            public_key.verify(value, tbs, ec.ECDSA(hashes.SHA256()))
        else:
            raise SealError(
                "SIGNER_UNSUITABLE", "only RSA and EC token keys are supported"
            )
    except InvalidSignature:
        raise SealError(
            "EXTERNAL_SIGNATURE_INVALID",
            "the signature value does not match the certificate and the prepared data",
        ) from None


async def _complete(
    pending: PendingSignature, value: bytes, timestamper: TimeStamper | None
) -> bytes:
    signer = ExternalSigner(
        signing_cert=asn1_x509.Certificate.load(pending.signing_cert),
        cert_registry=_registry(pending.chain),
        signature_value=value,
    )
    signed_attrs = cms.CMSAttributes.load(pending.signed_attributes)
    container = await signer.async_sign_prescribed_attributes(
        _MD, signed_attrs=signed_attrs, timestamper=timestamper
    )
    output = io.BytesIO(pending.prepared_pdf)
    digest = PreparedByteRangeDigest(
        document_digest=pending.document_digest,
        reserved_region_start=pending.reserved_region_start,
        reserved_region_end=pending.reserved_region_end,
    )
    await PdfTBSDocument.async_finish_signing(output, digest, container)
    return output.getvalue()


def complete_external(
    pending: PendingSignature,
    signature_value: bytes,
    *,
    timestamper: TimeStamper | None = None,
) -> bytes:
    """The sealed PDF, from the state :meth:`Sealer.prepare_external` left and
    the token's signature over its bytes; pass the same timestamper again if
    one was given there."""
    if pending.timestamped and timestamper is None:
        raise SealError(
            "TIMESTAMP_FAILED",
            "this seal was prepared for a timestamp; pass the timestamper again",
            422,
        )
    cert = x509.load_der_x509_certificate(pending.signing_cert)
    value = _normalise_signature(cert.public_key(), signature_value)
    _check_signature(cert, value, pending.signed_attributes)
    try:
        return run(_complete(pending, value, timestamper))
    except OSError as e:  # the TSA could not be reached (TimestampRequestError)
        raise SealError(
            "TIMESTAMP_FAILED", "the timestamp authority failed", 502
        ) from e
