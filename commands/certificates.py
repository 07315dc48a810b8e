"""Applying for, issuing and managing certificates (manual 12, 证书管理).

The platform's own certificate authority (:mod:`signing_service.ca`) issues
them. A cloud certificate's key is made here, encrypted with the signing
secret and kept in the key store; it never leaves the server. A token
certificate is issued for a public key the token made: the web client reads
it through the device bridge, and writes the issued certificate back onto the
token before activating it.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import UUID

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from eventsourcing.application import AggregateNotFoundError

from aggregates.errors import InvalidValue, StateConflict
from aggregates.signing import (
    CertificateKind,
    Certificates,
    certificates_id,
)
from commands.errors import CommandError, NotFound
from commands.passwords import hash_password, verify_password
from commands.platform import Caller, CommandResult, CommandRunner, Outcome
from signing_service.ca import (
    CertificateAuthority,
    SigningKey,
    decrypt_private_key,
    encrypt_private_key,
    generate_key,
)
from signing_service.errors import CaError

#: How old the published CRL may grow before it is signed again.
CRL_REFRESH = timedelta(hours=1)


class KeyStore:
    """Cloud certificates' keys, encrypted at rest, and every issued
    certificate, by certificate id, in one folder."""

    def __init__(self, directory: Path, secret: bytes) -> None:
        self.directory = directory
        self._secret = secret

    def __repr__(self) -> str:  # never show the secret
        return f"KeyStore({str(self.directory)!r})"

    def put_key(self, certificate_id: str, key: SigningKey) -> None:
        self._write(f"{certificate_id}.key", encrypt_private_key(key, self._secret))

    def key(self, certificate_id: str) -> SigningKey:
        path = self._path(f"{certificate_id}.key")
        if not path.exists():
            raise NotFound(f"no key of certificate {certificate_id}")
        return decrypt_private_key(path.read_bytes(), self._secret)

    def put_certificate(
        self, certificate_id: str, certificate: x509.Certificate
    ) -> None:
        self._write(
            f"{certificate_id}.crt",
            certificate.public_bytes(serialization.Encoding.PEM),
        )

    def certificate(self, certificate_id: str) -> x509.Certificate:
        path = self._path(f"{certificate_id}.crt")
        if not path.exists():
            raise NotFound(f"certificate {certificate_id} is not issued")
        return x509.load_pem_x509_certificate(path.read_bytes())

    def _path(self, name: str) -> Path:
        if "/" in name or name.startswith("."):
            raise ValueError("bad key store name")
        return self.directory / name

    def _write(self, name: str, data: bytes) -> None:
        self.directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        path = self._path(name)
        temporary = path.with_suffix(path.suffix + ".tmp")
        temporary.write_bytes(data)
        temporary.chmod(0o600)
        os.replace(temporary, path)


class Authority:
    """The platform CA, created in its folder on first use."""

    def __init__(self, directory: Path, secret: bytes, *, crl_url: str) -> None:
        self.directory = directory
        self._secret = secret
        self.crl_url = crl_url
        self._ca: CertificateAuthority | None = None
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"Authority({str(self.directory)!r})"

    def ca(self) -> CertificateAuthority:
        with self._lock:
            if self._ca is None:
                url = self.crl_url
                try:
                    self._ca = CertificateAuthority.load(
                        self.directory, self._secret, crl_url=url
                    )
                except CaError as e:
                    if e.code != "CA_NOT_FOUND":
                        raise
                    self._ca = CertificateAuthority.create(
                        self.directory, self._secret, crl_url=url
                    )
            return self._ca


class PasswordRequired(CommandError):
    code = "SIGNING_PASSWORD_WRONG"
    status = 403


def serial_hex(certificate: x509.Certificate) -> str:
    return format(certificate.serial_number, "x")


class CertificateCommands:
    def __init__(
        self,
        runner: CommandRunner,
        authority: Authority,
        keys: KeyStore,
        *,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.runner = runner
        self.authority = authority
        self.keys = keys
        self.clock = clock
        self._crl: tuple[x509.CertificateRevocationList, datetime] | None = None
        self._crl_lock = threading.Lock()

    # --- revocation, published ------------------------------------------------

    def crls(self) -> list[x509.CertificateRevocationList]:
        """The CRL verifiers use: signed afresh after a revocation and at
        least hourly, never per request (each signing takes a CRL number)."""
        with self._crl_lock:
            now = self.clock()
            if self._crl is None or now - self._crl[1] > CRL_REFRESH:
                self._crl = (self.authority.ca().crl(), now)
            return [self._crl[0]]

    def published_crl(self) -> bytes:
        return self.crls()[0].public_bytes(serialization.Encoding.DER)

    # --- applying and issuing -------------------------------------------------

    def apply_cloud(self, caller: Caller, password: str) -> CommandResult:
        """A cloud certificate, issued at once: its key is made and kept here,
        usable with ``password`` (or without, once password-free sealing is
        switched on)."""
        password_hash = hash_password(password)

        def work() -> Outcome:
            book = self._book(caller)
            certificate_id = book.apply_for(
                CertificateKind.CLOUD, password_hash=password_hash
            )
            key = generate_key("ec_p256")
            certificate = self._issue(caller, key.public_key())
            self.keys.put_key(certificate_id, key)
            self.keys.put_certificate(certificate_id, certificate)
            book.issue(certificate_id, serial_hex(certificate), _not_after(certificate))
            return Outcome(
                [book], {"certificate_id": certificate_id}, book, created=True
            )

        return self.runner.run(caller, "apply_cloud_certificate", {}, work)

    def apply_token(self, caller: Caller, mailing_address: str) -> CommandResult:
        """A token certificate: applied for with the address the token is
        mailed to; the yearly fee is recorded as due."""

        def work() -> Outcome:
            book = self._book(caller)
            certificate_id = book.apply_for(
                CertificateKind.TOKEN, mailing_address=mailing_address
            )
            return Outcome(
                [book], {"certificate_id": certificate_id}, book, created=True
            )

        arguments = {"mailing_address": mailing_address}
        return self.runner.run(caller, "apply_token_certificate", arguments, work)

    def issue_token(
        self, caller: Caller, certificate_id: str, public_key_pem: str
    ) -> tuple[CommandResult, str]:
        """Issues a token certificate for the token's public key; the answer
        holds the certificate (PEM) to write onto the token."""
        public_key = _public_key(public_key_pem)
        issued: dict[str, x509.Certificate] = {}

        def work() -> Outcome:
            book = self._own_book(caller)
            current = book.certificate(certificate_id)
            if current.kind is not CertificateKind.TOKEN:
                raise StateConflict(
                    "only token certificates are issued for a key",
                    code="CERTIFICATE_KIND",
                )
            certificate = self._issue(caller, public_key)
            book.issue(certificate_id, serial_hex(certificate), _not_after(certificate))
            self.keys.put_certificate(certificate_id, certificate)
            issued["certificate"] = certificate
            return Outcome([book], {"certificate_id": certificate_id}, book)

        arguments = {"certificate_id": certificate_id, "public_key": public_key_pem}
        result = self.runner.run(caller, "issue_token_certificate", arguments, work)
        certificate = issued.get("certificate") or self.keys.certificate(certificate_id)
        pem = certificate.public_bytes(serialization.Encoding.PEM).decode()
        return result, pem

    def renew(self, caller: Caller, certificate_id: str) -> tuple[CommandResult, str]:
        """A renewed certificate for the active certificate's key (the token's
        key, or the cloud key kept here); for a token, write the answer onto
        the token (下载证书)."""
        renewed: dict[str, x509.Certificate] = {}

        def work() -> Outcome:
            book = self._own_book(caller)
            book.certificate(certificate_id)
            current = self.keys.certificate(certificate_id)
            public_key = current.public_key()
            if not isinstance(public_key, rsa.RSAPublicKey | ec.EllipticCurvePublicKey):
                raise StateConflict(
                    "the key cannot be renewed", code="KEY_NOT_SUPPORTED"
                )
            certificate = self._issue(caller, public_key)
            book.renew(certificate_id, serial_hex(certificate), _not_after(certificate))
            self.keys.put_certificate(certificate_id, certificate)
            renewed["certificate"] = certificate
            return Outcome([book], {"certificate_id": certificate_id}, book)

        result = self.runner.run(
            caller, "renew_certificate", {"certificate_id": certificate_id}, work
        )
        certificate = renewed.get("certificate") or self.keys.certificate(
            certificate_id
        )
        return result, certificate.public_bytes(serialization.Encoding.PEM).decode()

    def _issue(
        self, caller: Caller, public_key: rsa.RSAPublicKey | ec.EllipticCurvePublicKey
    ) -> x509.Certificate:
        enterprise: Any = self.runner.app.repository.get(UUID(caller.enterprise_id))
        if enterprise.information is None:
            raise StateConflict(
                "record the enterprise information first", code="INFORMATION_MISSING"
            )
        return self.authority.ca().issue(
            public_key,
            enterprise_name=enterprise.name,
            uscc=enterprise.information.uscc,
        )

    # --- the certificate's life ---------------------------------------------

    def change(
        self, caller: Caller, certificate_id: str, action: str, **values: Any
    ) -> CommandResult:
        """``activate``, ``cancel``, ``revoke``, ``report_lost`` (with
        ``mailing_address``), ``reapply`` or ``change_address`` (with
        ``mailing_address``)."""
        created: dict[str, str] = {}

        def work() -> Outcome:
            book = self._own_book(caller)
            if action == "activate":
                book.activate(certificate_id)
            elif action == "cancel":
                book.cancel(certificate_id)
            elif action == "revoke":
                self._revoke_at_authority(book, certificate_id)
                book.revoke(certificate_id, "revoked by the enterprise")
            elif action == "report_lost":
                self._revoke_at_authority(book, certificate_id)
                created["certificate_id"] = book.report_lost(
                    certificate_id, str(values.get("mailing_address") or "")
                )
            elif action == "reapply":
                created["certificate_id"] = book.reapply(certificate_id)
            elif action == "change_address":
                book.change_address(
                    certificate_id, str(values.get("mailing_address") or "")
                )
            else:
                raise InvalidValue(f"no action {action!r}", field="action")
            ids = {"certificate_id": certificate_id}
            if created:
                ids["new_certificate_id"] = created["certificate_id"]
            return Outcome([book], ids, book)

        arguments = {"certificate_id": certificate_id, "action": action, **values}
        return self.runner.run(caller, f"{action}_certificate", arguments, work)

    def _revoke_at_authority(self, book: Certificates, certificate_id: str) -> None:
        current = book.certificate(certificate_id)
        if current.serial is not None:
            try:
                self.authority.ca().revoke(int(current.serial, 16), "keyCompromise")
            except CaError as e:
                if e.code != "UNKNOWN_SERIAL":
                    raise
            with self._crl_lock:
                self._crl = None

    # --- the cloud certificate's password -------------------------------------

    def change_password(
        self, caller: Caller, certificate_id: str, old: str, new: str
    ) -> CommandResult:
        new_hash = hash_password(new)

        def work() -> Outcome:
            book = self._own_book(caller)
            self._check_password(book, certificate_id, old)
            book.change_password(certificate_id, new_hash, "changed")
            return Outcome([book], {"certificate_id": certificate_id}, book)

        return self.runner.run(
            caller, "change_signing_password", {"certificate_id": certificate_id}, work
        )

    def reset_password(
        self, caller: Caller, certificate_id: str, account_password: str, new: str
    ) -> CommandResult:
        """A forgotten signing password, reset by the administrator proving
        their own account password."""
        new_hash = hash_password(new)

        def work() -> Outcome:
            book = self._own_book(caller)
            book.certificate(certificate_id)
            account: Any = self.runner.app.repository.get(UUID(caller.account_id))
            if not verify_password(account.password_hash, account_password):
                raise PasswordRequired("the account password is wrong")
            book.change_password(certificate_id, new_hash, "reset")
            return Outcome([book], {"certificate_id": certificate_id}, book)

        return self.runner.run(
            caller, "reset_signing_password", {"certificate_id": certificate_id}, work
        )

    def set_password_free(
        self, caller: Caller, certificate_id: str, password: str, enabled: bool
    ) -> CommandResult:
        def work() -> Outcome:
            book = self._own_book(caller)
            self._check_password(book, certificate_id, password)
            book.set_password_free(certificate_id, enabled)
            return Outcome([book], {"certificate_id": certificate_id}, book)

        arguments = {"certificate_id": certificate_id, "enabled": enabled}
        return self.runner.run(caller, "set_password_free", arguments, work)

    # --- for sealing ------------------------------------------------------------

    def cloud_signing(
        self, enterprise_id: str, password: str | None
    ) -> tuple[str, SigningKey, x509.Certificate, x509.Certificate]:
        """The active cloud certificate's id, key, certificate and the root,
        once the password is proven (or password-free sealing is on)."""
        book = self.book_of(enterprise_id)
        current = book.active(CertificateKind.CLOUD) if book else None
        if book is None or current is None:
            raise StateConflict(
                "the enterprise has no active cloud certificate",
                code="NO_ACTIVE_CERTIFICATE",
            )
        if not current.password_free:
            self._check_password(book, current.certificate_id, password or "")
        return (
            current.certificate_id,
            self.keys.key(current.certificate_id),
            self.keys.certificate(current.certificate_id),
            self.authority.ca().root,
        )

    def book_of(self, enterprise_id: str) -> Certificates | None:
        try:
            found: Certificates = self.runner.app.repository.get(
                certificates_id(enterprise_id)
            )
        except AggregateNotFoundError:
            return None
        return found

    def _book(self, caller: Caller) -> Certificates:
        return self.book_of(caller.enterprise_id) or Certificates.open(
            caller.enterprise_id
        )

    def _own_book(self, caller: Caller) -> Certificates:
        book = self.book_of(caller.enterprise_id)
        if book is None:
            raise NotFound("the enterprise has no certificates")
        return book

    @staticmethod
    def _check_password(book: Certificates, certificate_id: str, password: str) -> None:
        current = book.certificate(certificate_id)
        if not verify_password(current.password_hash, password):
            raise PasswordRequired("the signing password is wrong")


def _public_key(pem: str) -> rsa.RSAPublicKey | ec.EllipticCurvePublicKey:
    try:
        key = serialization.load_pem_public_key(pem.encode())
    except ValueError:
        raise InvalidValue(
            "public_key must be a PEM public key", field="public_key"
        ) from None
    if isinstance(key, rsa.RSAPublicKey) and key.key_size >= 2048:
        return key
    if isinstance(key, ec.EllipticCurvePublicKey) and key.curve.name == "secp256r1":
        return key
    raise InvalidValue(
        "a certificate's key is RSA 2048 or more, or ECDSA P-256",
        field="public_key",
        code="KEY_NOT_SUPPORTED",
    )


def _not_after(certificate: x509.Certificate) -> str:
    return certificate.not_valid_after_utc.date().isoformat()
