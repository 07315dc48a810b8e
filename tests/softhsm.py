"""Throwaway SoftHSM2 tokens holding a key pair and its certificate.

A stand-in for the user's USB key in tests::

    with softhsm_token("ec_p256") as token:
        tokens = Tokens(token.module)      # load the module *after* entering
        try:
            ...sign on token.slot with token.pin and token.key_id_hex...
        finally:
            tokens.close()                 # before the next SoftHSM session

API
---
``softhsm_token(kind="rsa2048"|"ec_p256", cert_factory=None, *, pin=...,
mechanisms="ALL") -> Iterator[SoftToken]``
    One token in a SoftHSM of its own (a temp dir with ``softhsm2.conf`` and
    ``tokens/``), ``SOFTHSM2_CONF`` set for the process while inside.
``softhsm(*, mechanisms="ALL", directory=None) -> Iterator[SoftHsm]``
    The same SoftHSM without a token; ``SoftHsm.add_token(kind, ...)`` adds as
    many as a test needs (each with its own key and certificate).
``remove(token)``
    "Pulls the token out": deletes it with ``softhsm2-util --delete-token``.
``softhsm_module()``
    The module's path; skips the test when SoftHSM2 is not installed, and
    fails it instead when ``CI`` is set (CI must install ``softhsm2``).

``cert_factory(private_key) -> x509.Certificate`` replaces the self-signed
certificate, e.g. by one a test CA issues for the token's key.

Caveats: SoftHSM reads ``SOFTHSM2_CONF`` and scans its token directory only in
``C_Initialize``, i.e. when a process first loads the module. PyKCS11 shares one
loaded module among all ``PyKCS11Lib`` objects of a process, and calls
``C_Finalize`` only when the last of them unloads it. Hence:

* Create every token a test needs (``SoftHsm.add_token``) *before* the code
  under test loads the module, and unload it (``Tokens.close()``,
  ``PyKCS11Lib.unload()``) before the next ``softhsm``/``softhsm_token``:
  entering one, or adding a token, while the module is loaded raises
  ``RuntimeError`` rather than quietly using the old configuration.
* A loaded module does not notice ``remove()``: it still lists the slot and
  answers ``CKR_GENERAL_ERROR`` for it. Re-initialise it (``Tokens.rescan()``,
  or ``unload()`` then ``load()``) to see what a pulled USB key gives: the slot
  gone, ``CKR_SLOT_ID_INVALID`` / ``CKR_TOKEN_NOT_PRESENT``.
* SoftHSM has no PIN retry counter: a wrong PIN never locks its tokens.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import tempfile
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal

import PyKCS11
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

__all__ = [
    "KeyKind",
    "PrivateKey",
    "SoftHsm",
    "SoftToken",
    "remove",
    "self_signed",
    "softhsm",
    "softhsm_module",
    "softhsm_token",
]

KeyKind = Literal["rsa2048", "ec_p256"]
PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey
CertFactory = Callable[[PrivateKey], x509.Certificate]

DEFAULT_PIN = "123456"
DEFAULT_SO_PIN = "12345678"

_MODULE_CANDIDATES = (
    "/usr/lib/softhsm/libsofthsm2.so",
    "/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so",
    "/usr/lib/aarch64-linux-gnu/softhsm/libsofthsm2.so",
    "/usr/local/lib/softhsm/libsofthsm2.so",
    "/opt/homebrew/lib/softhsm/libsofthsm2.so",
)
# DER of the OID prime256v1 (1.2.840.10045.3.1.7), CKA_EC_PARAMS of P-256.
_P256_PARAMS = bytes.fromhex("06082a8648ce3d030107")


def _unavailable(reason: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(f"{reason}: CI must install softhsm2 (apt-get install softhsm2)")
    pytest.skip(f"{reason} (apt-get install softhsm2)")


def _util() -> str:
    util = shutil.which("softhsm2-util")
    if util is None:
        _unavailable("softhsm2-util is not installed")
        raise AssertionError("unreachable")
    return util


def softhsm_module() -> str:
    """The SoftHSM2 PKCS#11 module (``SOFTHSM2_MODULE`` overrides the search)."""
    given = os.environ.get("SOFTHSM2_MODULE")
    for candidate in (given,) if given else _MODULE_CANDIDATES:
        if Path(candidate).is_file():
            return candidate
    _unavailable("the SoftHSM2 module libsofthsm2.so is not installed")
    raise AssertionError("unreachable")


def _module_loaded(module: str) -> bool:
    # PyKCS11's registry of loaded modules (private, hence the getattr).
    loaded = getattr(PyKCS11.PyKCS11Lib, "_loaded_libs", {})
    return module in loaded


def _guard_not_loaded(module: str, doing: str) -> None:
    if _module_loaded(module):
        raise RuntimeError(
            f"cannot {doing}: {module} is already loaded in this process and keeps "
            "the SoftHSM configuration and token list it read in C_Initialize. "
            "Unload it first (Tokens.close(), PyKCS11Lib.unload()), or add all "
            "tokens before loading it (see tests/softhsm.py)."
        )


@dataclass(frozen=True)
class SoftToken:
    """A SoftHSM token holding one private key and its certificate (same
    ``CKA_ID``, ``key_id_hex``)."""

    module: str
    slot: int
    pin: str
    key_id_hex: str
    certificate_der: bytes
    private_key: PrivateKey
    conf_path: Path
    label: str
    serial: str
    so_pin: str = DEFAULT_SO_PIN
    kind: KeyKind = "rsa2048"

    @property
    def certificate(self) -> x509.Certificate:
        return x509.load_der_x509_certificate(self.certificate_der)


@dataclass
class SoftHsm:
    """A SoftHSM configuration of its own: ``conf_path`` and ``token_dir``."""

    module: str
    conf_path: Path
    token_dir: Path
    tokens: list[SoftToken] = field(default_factory=list)

    def env(self) -> dict[str, str]:
        return {**os.environ, "SOFTHSM2_CONF": str(self.conf_path)}

    def add_token(
        self,
        kind: KeyKind = "rsa2048",
        *,
        label: str | None = None,
        pin: str = DEFAULT_PIN,
        so_pin: str = DEFAULT_SO_PIN,
        cert_factory: CertFactory | None = None,
    ) -> SoftToken:
        """Initialise a token and import a new key pair and its certificate."""
        _guard_not_loaded(self.module, "add a SoftHSM token")
        label = label or f"softhsm-{uuid.uuid4().hex[:8]}"
        subprocess.run(
            [
                _util(),
                "--init-token",
                "--free",
                "--label",
                label,
                "--so-pin",
                so_pin,
                "--pin",
                pin,
            ],
            env=self.env(),
            check=True,
            capture_output=True,
        )
        private_key = _generate(kind)
        certificate = (cert_factory or self_signed)(private_key)
        key_id = hashlib.sha1(
            private_key.public_key().public_bytes(
                serialization.Encoding.DER,
                serialization.PublicFormat.SubjectPublicKeyInfo,
            ),
            usedforsecurity=False,
        ).digest()
        slot, serial = _import(
            self.module, label, pin, key_id, private_key, certificate
        )
        token = SoftToken(
            module=self.module,
            slot=slot,
            pin=pin,
            key_id_hex=key_id.hex(),
            certificate_der=certificate.public_bytes(serialization.Encoding.DER),
            private_key=private_key,
            conf_path=self.conf_path,
            label=label,
            serial=serial,
            so_pin=so_pin,
            kind=kind,
        )
        self.tokens.append(token)
        return token


@contextmanager
def softhsm(
    *, mechanisms: str = "ALL", directory: Path | None = None
) -> Iterator[SoftHsm]:
    """A fresh SoftHSM (no token yet), ``SOFTHSM2_CONF`` pointing at it for
    the process while inside. ``mechanisms`` is its ``slots.mechanisms``: the
    mechanisms enabled, e.g. ``"CKM_RSA_PKCS,CKM_ECDSA"`` for a token that
    cannot hash (SoftHSM 2.6 ignores the ``-CKM_X`` form for some of them)."""
    module = softhsm_module()
    _util()
    _guard_not_loaded(module, "start a SoftHSM session")
    with tempfile.TemporaryDirectory(prefix="softhsm-", dir=directory) as tmp:
        conf_path = Path(tmp) / "softhsm2.conf"
        token_dir = Path(tmp) / "tokens"
        token_dir.mkdir()
        conf_path.write_text(
            f"directories.tokendir = {token_dir}\n"
            "objectstore.backend = file\n"
            "log.level = ERROR\n"
            "slots.removable = true\n"
            f"slots.mechanisms = {mechanisms}\n"
            "library.reset_on_fork = false\n",
            encoding="utf-8",
        )
        previous = os.environ.get("SOFTHSM2_CONF")
        os.environ["SOFTHSM2_CONF"] = str(conf_path)
        try:
            yield SoftHsm(module=module, conf_path=conf_path, token_dir=token_dir)
        finally:
            if previous is None:
                os.environ.pop("SOFTHSM2_CONF", None)
            else:
                os.environ["SOFTHSM2_CONF"] = previous


@contextmanager
def softhsm_token(
    kind: KeyKind = "rsa2048",
    cert_factory: CertFactory | None = None,
    *,
    pin: str = DEFAULT_PIN,
    mechanisms: str = "ALL",
) -> Iterator[SoftToken]:
    """One token with a ``kind`` key and its certificate, in a SoftHSM of its
    own (see the module's caveats)."""
    with softhsm(mechanisms=mechanisms) as hsm:
        yield hsm.add_token(kind, pin=pin, cert_factory=cert_factory)


def remove(token: SoftToken) -> None:
    """Delete the token, as if its USB key were pulled out. A module loaded
    before notices only once re-initialised (see the module's caveats)."""
    subprocess.run(
        [_util(), "--delete-token", "--serial", token.serial],
        env={**os.environ, "SOFTHSM2_CONF": str(token.conf_path)},
        check=True,
        capture_output=True,
    )


def self_signed(
    private_key: PrivateKey, common_name: str = "测试药业有限公司"
) -> x509.Certificate:
    """A one-year self-signed signing certificate for ``private_key``."""
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, "CN"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, common_name),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )
    now = datetime.now(UTC).replace(microsecond=0)
    return (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(private_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=365))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), True)
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
            True,
        )
        .sign(private_key, hashes.SHA256())
    )


# -- internals ----------------------------------------------------------------


def _generate(kind: KeyKind) -> PrivateKey:
    if kind == "rsa2048":
        return rsa.generate_private_key(public_exponent=65537, key_size=2048)
    if kind == "ec_p256":
        return ec.generate_private_key(ec.SECP256R1())
    raise ValueError(f"unknown key kind {kind!r}")


def _unsigned(value: int, length: int | None = None) -> bytes:
    return value.to_bytes(length or max(1, (value.bit_length() + 7) // 8), "big")


def _der_integer(value: int) -> bytes:
    content = _unsigned(value)
    if content[0] & 0x80:
        content = b"\x00" + content
    return b"\x02" + _der_length(len(content)) + content


def _der_length(length: int) -> bytes:
    if length < 0x80:
        return bytes([length])
    raw = _unsigned(length)
    return bytes([0x80 | len(raw)]) + raw


def _key_templates(
    key_id: bytes, label: str, private_key: PrivateKey
) -> tuple[list[tuple[int, Any]], list[tuple[int, Any]]]:
    common_private: list[tuple[int, Any]] = [
        (PyKCS11.CKA_CLASS, PyKCS11.CKO_PRIVATE_KEY),
        (PyKCS11.CKA_TOKEN, PyKCS11.CK_TRUE),
        (PyKCS11.CKA_PRIVATE, PyKCS11.CK_TRUE),
        (PyKCS11.CKA_SENSITIVE, PyKCS11.CK_TRUE),
        (PyKCS11.CKA_EXTRACTABLE, PyKCS11.CK_FALSE),
        (PyKCS11.CKA_SIGN, PyKCS11.CK_TRUE),
        (PyKCS11.CKA_ID, key_id),
        (PyKCS11.CKA_LABEL, label),
    ]
    common_public: list[tuple[int, Any]] = [
        (PyKCS11.CKA_CLASS, PyKCS11.CKO_PUBLIC_KEY),
        (PyKCS11.CKA_TOKEN, PyKCS11.CK_TRUE),
        (PyKCS11.CKA_PRIVATE, PyKCS11.CK_FALSE),
        (PyKCS11.CKA_VERIFY, PyKCS11.CK_TRUE),
        (PyKCS11.CKA_ID, key_id),
        (PyKCS11.CKA_LABEL, label),
    ]
    if isinstance(private_key, rsa.RSAPrivateKey):
        numbers = private_key.private_numbers()
        public = numbers.public_numbers
        return (
            [
                *common_private,
                (PyKCS11.CKA_KEY_TYPE, PyKCS11.CKK_RSA),
                (PyKCS11.CKA_MODULUS, _unsigned(public.n)),
                (PyKCS11.CKA_PUBLIC_EXPONENT, _unsigned(public.e)),
                (PyKCS11.CKA_PRIVATE_EXPONENT, _unsigned(numbers.d)),
                (PyKCS11.CKA_PRIME_1, _unsigned(numbers.p)),
                (PyKCS11.CKA_PRIME_2, _unsigned(numbers.q)),
                (PyKCS11.CKA_EXPONENT_1, _unsigned(numbers.dmp1)),
                (PyKCS11.CKA_EXPONENT_2, _unsigned(numbers.dmq1)),
                (PyKCS11.CKA_COEFFICIENT, _unsigned(numbers.iqmp)),
            ],
            [
                *common_public,
                (PyKCS11.CKA_KEY_TYPE, PyKCS11.CKK_RSA),
                (PyKCS11.CKA_MODULUS, _unsigned(public.n)),
                (PyKCS11.CKA_PUBLIC_EXPONENT, _unsigned(public.e)),
            ],
        )
    if not isinstance(private_key.curve, ec.SECP256R1):
        raise ValueError("only P-256 EC keys are supported")
    point = private_key.public_key().public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    )
    return (
        [
            *common_private,
            (PyKCS11.CKA_KEY_TYPE, PyKCS11.CKK_EC),
            (PyKCS11.CKA_EC_PARAMS, _P256_PARAMS),
            (
                PyKCS11.CKA_VALUE,
                _unsigned(private_key.private_numbers().private_value, 32),
            ),
        ],
        [
            *common_public,
            (PyKCS11.CKA_KEY_TYPE, PyKCS11.CKK_EC),
            (PyKCS11.CKA_EC_PARAMS, _P256_PARAMS),
            # CKA_EC_POINT is the DER OCTET STRING holding the X9.62 point.
            (PyKCS11.CKA_EC_POINT, b"\x04" + _der_length(len(point)) + point),
        ],
    )


def _import(
    module: str,
    label: str,
    pin: str,
    key_id: bytes,
    private_key: PrivateKey,
    certificate: x509.Certificate,
) -> tuple[int, str]:
    """Write the key pair and certificate into the token labelled ``label``;
    return its slot and serial. Loads the module only for the time it takes."""
    lib = PyKCS11.PyKCS11Lib()
    lib.load(module)
    try:
        found = [
            (int(slot), str(info.serialNumber).strip())
            for slot in lib.getSlotList(tokenPresent=True)
            for info in (lib.getTokenInfo(slot),)
            if str(info.label).strip() == label
        ]
        if len(found) != 1:
            raise RuntimeError(f"SoftHSM lists {len(found)} tokens labelled {label}")
        slot, serial = found[0]
        private_template, public_template = _key_templates(key_id, label, private_key)
        certificate_template: list[tuple[int, Any]] = [
            (PyKCS11.CKA_CLASS, PyKCS11.CKO_CERTIFICATE),
            (PyKCS11.CKA_CERTIFICATE_TYPE, PyKCS11.CKC_X_509),
            (PyKCS11.CKA_TOKEN, PyKCS11.CK_TRUE),
            (PyKCS11.CKA_PRIVATE, PyKCS11.CK_FALSE),
            (PyKCS11.CKA_ID, key_id),
            (PyKCS11.CKA_LABEL, label),
            (PyKCS11.CKA_SUBJECT, certificate.subject.public_bytes()),
            (PyKCS11.CKA_ISSUER, certificate.issuer.public_bytes()),
            (PyKCS11.CKA_SERIAL_NUMBER, _der_integer(certificate.serial_number)),
            (
                PyKCS11.CKA_VALUE,
                certificate.public_bytes(serialization.Encoding.DER),
            ),
        ]
        session = lib.openSession(slot, PyKCS11.CKF_RW_SESSION)
        try:
            session.login(pin)
            try:
                session.createObject(private_template)
                session.createObject(public_template)
                session.createObject(certificate_template)
            finally:
                session.logout()
        finally:
            session.closeSession()
        return slot, serial
    finally:
        lib.unload()
