"""The platform's own certificate authority.

Enterprises that have no certificate from a licensed CA seal with a "cloud
certificate" the platform issues to them. This module is that issuer: one
self-signed root (ECDSA P-256, 20 years) kept in a directory, which issues
document-signing certificates naming the enterprise and its unified social
credit code (USCC), revokes them and publishes a CRL.

The directory holds three files:

* ``root-key.pem``: the root's private key, PKCS#8 encrypted with the
  passphrase given to :meth:`CertificateAuthority.create` (never stored);
* ``root-cert.pem``: the root certificate, public;
* ``state.json``: serials issued, serials revoked and the CRL number. It is
  rewritten atomically (temporary file, then ``os.replace``) under an
  exclusive ``flock`` so that two processes sharing the directory neither
  lose an update nor read half a file.

The private keys of cloud certificates are kept at rest by the caller,
encrypted with :func:`encrypt_private_key`.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import json
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID, ObjectIdentifier

from signing_service.errors import CaError

__all__ = [
    "DEFAULT_CA_NAME",
    "DEFAULT_CRL_URL",
    "DOCUMENT_SIGNING",
    "CertificateAuthority",
    "KeyKind",
    "SigningKey",
    "check_uscc",
    "decrypt_private_key",
    "encrypt_private_key",
    "generate_key",
]

DEFAULT_CA_NAME = "首营平台 CA"
DEFAULT_CRL_URL = "http://127.0.0.1/crl/platform.crl"

# id-kp-documentSigning (RFC 9336). pyhanko's validator accepts any extended
# key usage unless told otherwise (KeyUsageConstraints.extd_key_usage is None
# by default) and requires only the non-repudiation key usage, which these
# certificates carry; tests/unit/test_signing_verify.py checks the pair.
# Certificates carry emailProtection beside it, for validators that check a
# PDF signer as an e-mail signer (NSS, so poppler's pdfsig; older Acrobat).
DOCUMENT_SIGNING = ObjectIdentifier("1.3.6.1.5.5.7.3.36")

KeyKind = Literal["rsa2048", "ec_p256"]
SigningKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey

ROOT_YEARS = 20
CRL_DAYS = 7
# Certificates start a little in the past so that a signer whose clock lags
# the platform's does not produce a signature before the certificate's start.
_BACKDATE = dt.timedelta(minutes=5)

_KEY_FILE = "root-key.pem"
_CERT_FILE = "root-cert.pem"
_STATE_FILE = "state.json"
_LOCK_FILE = ".lock"

_USCC_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_USCC_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)
_USCC_PATTERN = re.compile(f"[{_USCC_ALPHABET}]{{18}}")
_MAX_NAME = 64  # ub-common-name and ub-organization-name of X.520


def check_uscc(uscc: str) -> str:
    """The USCC, upper-cased, if it is 18 characters of the credit-code
    alphabet whose last character is the GB 32100-2015 check character.

    The platform's registration checks codes too, but the CA is the last
    place a wrong code could be written into something signed, so it checks
    again rather than trust its caller.
    """
    value = uscc.strip().upper()
    if not _USCC_PATTERN.fullmatch(value):
        raise CaError(
            "INVALID_USCC",
            "a unified social credit code is 18 digits or upper-case letters "
            "other than I, O, S, V, Z",
        )
    total = sum(
        w * _USCC_ALPHABET.index(c) for w, c in zip(_USCC_WEIGHTS, value, strict=False)
    )
    if _USCC_ALPHABET[(31 - total % 31) % 31] != value[-1]:
        raise CaError("INVALID_USCC", "the credit code's check character is wrong")
    return value


def generate_key(kind: KeyKind) -> SigningKey:
    """A new private key for a cloud certificate."""
    if kind == "rsa2048":
        return rsa.generate_private_key(public_exponent=65537, key_size=2048)
    if kind == "ec_p256":
        return ec.generate_private_key(ec.SECP256R1())
    raise CaError("UNSUPPORTED_KEY", f"unknown key kind {kind!r}")


def encrypt_private_key(key: SigningKey, secret: bytes) -> bytes:
    """The key as encrypted PKCS#8 PEM, for keeping a cloud certificate's key
    at rest; ``secret`` is the key-encryption secret (never stored here)."""
    if not secret:
        raise CaError("KEY_SECRET_INVALID", "the key secret must not be empty")
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(secret),
    )


def decrypt_private_key(blob: bytes, secret: bytes) -> SigningKey:
    """The key :func:`encrypt_private_key` produced; a wrong secret is
    ``KEY_SECRET_WRONG`` (403)."""
    if b"-----BEGIN ENCRYPTED PRIVATE KEY-----" not in blob:
        raise CaError("KEY_BLOB_INVALID", "not an encrypted PKCS#8 private key")
    if not secret:
        raise CaError("KEY_SECRET_WRONG", "the key secret is wrong", 403)
    try:
        key = serialization.load_pem_private_key(blob, password=secret)
    except ValueError:
        # cryptography says "bad decrypt" for a wrong password and for a
        # damaged blob alike; with the header present, the secret is the
        # likelier culprit.
        raise CaError("KEY_SECRET_WRONG", "the key secret is wrong", 403) from None
    if not isinstance(key, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey):
        raise CaError("UNSUPPORTED_KEY", "only RSA and EC keys are used for sealing")
    return key


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(microsecond=0)


def _check_public_key(public_key: object) -> None:
    if isinstance(public_key, rsa.RSAPublicKey):
        if public_key.key_size < 2048:
            raise CaError("UNSUPPORTED_KEY", "RSA keys must have at least 2048 bits")
        return
    if isinstance(public_key, ec.EllipticCurvePublicKey):
        if not isinstance(public_key.curve, ec.SECP256R1 | ec.SECP384R1):
            raise CaError("UNSUPPORTED_KEY", "EC keys must be on P-256 or P-384")
        return
    raise CaError("UNSUPPORTED_KEY", "only RSA and EC keys are certified")


def _reason(reason: x509.ReasonFlags | str) -> x509.ReasonFlags:
    if isinstance(reason, x509.ReasonFlags):
        return reason
    try:
        return x509.ReasonFlags(reason)
    except ValueError:
        known = ", ".join(r.value for r in x509.ReasonFlags)
        raise CaError(
            "INVALID_REVOCATION_REASON", f"the reason must be one of {known}"
        ) from None


def _write_atomically(path: Path, data: bytes, *, mode: int = 0o644) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()


class CertificateAuthority:
    """The platform CA rooted in one directory; get one with :meth:`create`
    or :meth:`load`."""

    def __init__(
        self,
        directory: Path,
        key: ec.EllipticCurvePrivateKey,
        root: x509.Certificate,
        *,
        crl_url: str = DEFAULT_CRL_URL,
    ) -> None:
        self.directory = directory
        self._key = key
        self._root = root
        self.crl_url = crl_url

    def __repr__(self) -> str:  # never show the key
        return f"CertificateAuthority({str(self.directory)!r})"

    # -- creating and loading -------------------------------------------------

    @classmethod
    def create(
        cls,
        directory: Path,
        passphrase: bytes,
        *,
        name: str = DEFAULT_CA_NAME,
        crl_url: str = DEFAULT_CRL_URL,
    ) -> CertificateAuthority:
        """Make a new self-signed root in ``directory`` (created if missing);
        ``CA_EXISTS`` if the directory already holds one."""
        if not passphrase:
            raise CaError("KEY_SECRET_INVALID", "the CA passphrase must not be empty")
        directory.mkdir(parents=True, exist_ok=True)
        if (directory / _CERT_FILE).exists() or (directory / _KEY_FILE).exists():
            raise CaError("CA_EXISTS", f"{directory} already holds a CA", 409)
        key = ec.generate_private_key(ec.SECP256R1())
        subject = x509.Name(
            [
                x509.NameAttribute(NameOID.COUNTRY_NAME, "CN"),
                x509.NameAttribute(NameOID.ORGANIZATION_NAME, name),
                x509.NameAttribute(NameOID.COMMON_NAME, name),
            ]
        )
        now = _now()
        ski = x509.SubjectKeyIdentifier.from_public_key(key.public_key())
        root = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - _BACKDATE)
            .not_valid_after(now.replace(year=now.year + ROOT_YEARS))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=False,
                    content_commitment=False,
                    key_encipherment=False,
                    data_encipherment=False,
                    key_agreement=False,
                    key_cert_sign=True,
                    crl_sign=True,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
            .add_extension(ski, critical=False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski),
                critical=False,
            )
            .sign(key, hashes.SHA256())
        )
        _write_atomically(
            directory / _STATE_FILE,
            json.dumps({"crl_number": 0, "issued": {}, "revoked": {}}).encode(),
        )
        _write_atomically(
            directory / _KEY_FILE,
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.BestAvailableEncryption(passphrase),
            ),
            mode=0o600,
        )
        _write_atomically(
            directory / _CERT_FILE, root.public_bytes(serialization.Encoding.PEM)
        )
        return cls(directory, key, root, crl_url=crl_url)

    @classmethod
    def load(
        cls, directory: Path, passphrase: bytes, *, crl_url: str = DEFAULT_CRL_URL
    ) -> CertificateAuthority:
        """Open the CA in ``directory``; ``CA_LOCKED`` (403) for a wrong
        passphrase, ``CA_NOT_FOUND`` (404) for a directory without one."""
        try:
            key_pem = (directory / _KEY_FILE).read_bytes()
            cert_pem = (directory / _CERT_FILE).read_bytes()
        except FileNotFoundError:
            raise CaError("CA_NOT_FOUND", f"no CA in {directory}", 404) from None
        try:
            key = serialization.load_pem_private_key(key_pem, password=passphrase)
        except (ValueError, TypeError):
            raise CaError("CA_LOCKED", "the CA passphrase is wrong", 403) from None
        try:
            root = x509.load_pem_x509_certificate(cert_pem)
        except ValueError as e:
            raise CaError(
                "CA_STATE_BROKEN", "the root certificate is unreadable", 500
            ) from e
        if not isinstance(key, ec.EllipticCurvePrivateKey) or key.public_key() != (
            root.public_key()
        ):
            raise CaError(
                "CA_STATE_BROKEN",
                "the root key does not match the root certificate",
                500,
            )
        return cls(directory, key, root, crl_url=crl_url)

    # -- state ------------------------------------------------------------------

    @contextlib.contextmanager
    def _state(self) -> Iterator[dict[str, Any]]:
        """The state, read under an exclusive lock and written back atomically
        when the block ends without an exception."""
        with open(self.directory / _LOCK_FILE, "a+b") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                path = self.directory / _STATE_FILE
                try:
                    state: dict[str, Any] = json.loads(path.read_bytes())
                except (OSError, ValueError) as e:
                    raise CaError(
                        "CA_STATE_BROKEN", "the CA's serial list is unreadable", 500
                    ) from e
                before = json.dumps(state, sort_keys=True)
                yield state
                after = json.dumps(state, sort_keys=True)
                if after != before:
                    _write_atomically(path, after.encode())
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def _read_state(self) -> dict[str, Any]:
        with self._state() as state:
            return state

    # -- certificates -------------------------------------------------------------

    @property
    def root(self) -> x509.Certificate:
        """The root certificate; relying parties trust this one."""
        return self._root

    def issue(
        self,
        public_key: rsa.RSAPublicKey | ec.EllipticCurvePublicKey,
        *,
        enterprise_name: str,
        uscc: str,
        days: int = 365,
    ) -> x509.Certificate:
        """A document-signing certificate for an enterprise's key.

        The subject names the enterprise (CN and O), C=CN and the credit code
        as ``organizationIdentifier`` (2.5.4.97) ``NTRCN-<USCC>``. That
        attribute, with the "NTR" (national trade register) semantics of ETSI
        EN 319 412-1 §5.1.4, is where an eSeal certificate identifies a legal
        person; ``serialNumber`` (2.5.4.5) is meant to tell apart subjects
        with the same name and is read by validators as a device or person
        number, not as a registration number.
        """
        name = enterprise_name.strip()
        if not name or len(name) > _MAX_NAME:
            raise CaError(
                "INVALID_ENTERPRISE_NAME",
                f"the enterprise name must have 1 to {_MAX_NAME} characters",
            )
        code = check_uscc(uscc)
        _check_public_key(public_key)
        if days < 1:
            raise CaError(
                "INVALID_VALIDITY", "a certificate is valid for at least a day"
            )
        now = _now()
        not_after = min(now + dt.timedelta(days=days), self._root.not_valid_after_utc)
        subject = x509.Name(
            [
                x509.NameAttribute(NameOID.COUNTRY_NAME, "CN"),
                x509.NameAttribute(NameOID.ORGANIZATION_NAME, name),
                x509.NameAttribute(NameOID.ORGANIZATION_IDENTIFIER, f"NTRCN-{code}"),
                x509.NameAttribute(NameOID.COMMON_NAME, name),
            ]
        )
        with self._state() as state:
            serial = x509.random_serial_number()  # 159 random bits
            while format(serial, "x") in state["issued"]:
                serial = x509.random_serial_number()
            cert = (
                x509.CertificateBuilder()
                .subject_name(subject)
                .issuer_name(self._root.subject)
                .public_key(public_key)
                .serial_number(serial)
                .not_valid_before(now - _BACKDATE)
                .not_valid_after(not_after)
                .add_extension(
                    x509.BasicConstraints(ca=False, path_length=None), critical=True
                )
                .add_extension(
                    x509.KeyUsage(
                        digital_signature=True,
                        content_commitment=True,
                        key_encipherment=False,
                        data_encipherment=False,
                        key_agreement=False,
                        key_cert_sign=False,
                        crl_sign=False,
                        encipher_only=False,
                        decipher_only=False,
                    ),
                    critical=True,
                )
                .add_extension(
                    # emailProtection beside documentSigning: NSS (so poppler's
                    # pdfsig, Firefox, LibreOffice) checks a PDF signer as an
                    # e-mail signer and refuses a certificate without it.
                    x509.ExtendedKeyUsage(
                        [DOCUMENT_SIGNING, ExtendedKeyUsageOID.EMAIL_PROTECTION]
                    ),
                    critical=False,
                )
                .add_extension(
                    x509.CRLDistributionPoints(
                        [
                            x509.DistributionPoint(
                                full_name=[
                                    x509.UniformResourceIdentifier(self.crl_url)
                                ],
                                relative_name=None,
                                reasons=None,
                                crl_issuer=None,
                            )
                        ]
                    ),
                    critical=False,
                )
                .add_extension(
                    x509.SubjectKeyIdentifier.from_public_key(public_key),
                    critical=False,
                )
                .add_extension(self._authority_key_identifier(), critical=False)
                .sign(self._key, hashes.SHA256())
            )
            state["issued"][format(serial, "x")] = {
                "enterprise": name,
                "uscc": code,
                "not_after": not_after.isoformat(),
            }
        return cert

    def _authority_key_identifier(self) -> x509.AuthorityKeyIdentifier:
        ski = self._root.extensions.get_extension_for_class(x509.SubjectKeyIdentifier)
        return x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski.value)

    # -- revocation -----------------------------------------------------------------

    def revoke(
        self,
        serial: int,
        reason: x509.ReasonFlags | str = x509.ReasonFlags.unspecified,
    ) -> None:
        """Put an issued certificate on the CRL; revoking twice keeps the first
        date. ``UNKNOWN_SERIAL`` (404) for a serial this CA did not issue."""
        flag = _reason(reason)
        key = format(serial, "x")
        with self._state() as state:
            if key not in state["issued"]:
                raise CaError("UNKNOWN_SERIAL", "this CA issued no such serial", 404)
            state["revoked"].setdefault(
                key, {"reason": flag.value, "date": _now().isoformat()}
            )

    def is_revoked(self, serial: int) -> bool:
        """Whether the certificate with this serial was revoked."""
        return format(serial, "x") in self._read_state()["revoked"]

    def crl(self) -> x509.CertificateRevocationList:
        """A freshly signed CRL of every revoked serial, valid for 7 days.

        Each call takes the next CRL number (RFC 5280 wants them increasing),
        so publish the result rather than calling this per request.
        """
        now = _now()
        with self._state() as state:
            state["crl_number"] = number = int(state["crl_number"]) + 1
            builder = (
                x509.CertificateRevocationListBuilder()
                .issuer_name(self._root.subject)
                .last_update(now)
                .next_update(now + dt.timedelta(days=CRL_DAYS))
                .add_extension(x509.CRLNumber(number), critical=False)
                .add_extension(self._authority_key_identifier(), critical=False)
            )
            for serial_hex, entry in sorted(state["revoked"].items()):
                revoked = (
                    x509.RevokedCertificateBuilder()
                    .serial_number(int(serial_hex, 16))
                    .revocation_date(dt.datetime.fromisoformat(entry["date"]))
                )
                flag = x509.ReasonFlags(entry["reason"])
                # RFC 5280 §5.3.1: the unspecified code SHOULD be absent.
                if flag is not x509.ReasonFlags.unspecified:
                    revoked = revoked.add_extension(
                        x509.CRLReason(flag), critical=False
                    )
                builder = builder.add_revoked_certificate(revoked.build())
        return builder.sign(self._key, hashes.SHA256())
