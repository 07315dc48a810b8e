"""A thin, typed wrapper over PyKCS11 for the user's USB token.

``Tokens(module_path)`` loads the vendor's PKCS#11 module once and serialises
every operation on it (a lock: PKCS#11 login state is per application, not per
session, so two signings must not interleave). It lists the tokens, reads
their X.509 certificates and signs bytes with a private key found by
``CKA_ID``.

The contract with the platform: :meth:`Tokens.sign` signs *these exact bytes*
(the DER of the CMS signed attributes) with SHA-256:

* RSA keys: ``CKM_SHA256_RSA_PKCS`` (the token hashes). A token without it
  but with ``CKM_RSA_PKCS`` gets the DigestInfo of the SHA-256 hash instead,
  which yields the same PKCS#1 v1.5 signature.
* EC keys: the SHA-256 hash is computed here and signed with ``CKM_ECDSA``;
  the token's ``r || s`` is returned DER-encoded as an ECDSA-Sig-Value.

Every failure is a :class:`BridgeError` with a stable ``code``. The PIN is
never logged and never put into a message.
"""

from __future__ import annotations

import hashlib
import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

import PyKCS11
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

__all__ = [
    "MAX_SIGN_BYTES",
    "BridgeError",
    "CertificateInfo",
    "Signature",
    "TokenInfo",
    "Tokens",
    "error_from_pkcs11",
]

logger = logging.getLogger(__name__)

#: The most bytes :meth:`Tokens.sign` accepts (CMS signed attributes are far
#: smaller; the cap keeps a runaway caller from keeping the token busy).
MAX_SIGN_BYTES: Final = 64 * 1024

# PKCS#11 return values that mean "there is no token there (any more)".
_ABSENT: Final = frozenset(
    {
        PyKCS11.CKR_TOKEN_NOT_PRESENT,
        PyKCS11.CKR_SLOT_ID_INVALID,
        PyKCS11.CKR_DEVICE_REMOVED,
        PyKCS11.CKR_SESSION_HANDLE_INVALID,
        PyKCS11.CKR_SESSION_CLOSED,
        PyKCS11.CKR_TOKEN_NOT_RECOGNIZED,
    }
)
# CKR_PIN_INVALID / CKR_PIN_LEN_RANGE: the PIN has characters or a length the
# token never accepts, which to the user is the same as a wrong PIN.
_WRONG_PIN: Final = frozenset(
    {PyKCS11.CKR_PIN_INCORRECT, PyKCS11.CKR_PIN_INVALID, PyKCS11.CKR_PIN_LEN_RANGE}
)

# DER prefix of DigestInfo{sha256, NULL} (RFC 8017, section 9.2, note 1).
_SHA256_DIGEST_INFO: Final = bytes.fromhex("3031300d060960864801650304020105000420")


class BridgeError(Exception):
    """A refusal or failure with a stable machine ``code`` and an HTTP status.

    Codes: ``TOKEN_NOT_FOUND`` (404), ``PIN_INCORRECT`` (403), ``PIN_LOCKED``
    (423), ``KEY_NOT_FOUND`` (404), ``KEY_UNSUPPORTED`` (422, neither RSA nor
    EC), ``DATA_TOO_LARGE`` (413), ``TOKEN_ERROR`` (502, the message names the
    ``CKR_*`` value).
    """

    def __init__(self, code: str, status: int, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.status = status
        self.message = message

    def __repr__(self) -> str:
        return f"BridgeError({self.code!r}, {self.status}, {self.message!r})"


def _ckr_name(value: int) -> str:
    name = PyKCS11.CKR.get(value)
    if isinstance(name, str) and value >= 0:
        return name
    return f"CKR_0x{value & 0xFFFFFFFF:08X}"


def error_from_pkcs11(error: PyKCS11.PyKCS11Error, doing: str) -> BridgeError:
    """The :class:`BridgeError` for a PyKCS11 failure while ``doing`` something.

    ``doing`` is a short phrase of ours ("logging in", "signing"); nothing the
    caller sent (least of all the PIN) goes into the message.
    """
    value = int(error.value)
    name = _ckr_name(value)
    if value in _ABSENT:
        return BridgeError(
            "TOKEN_NOT_FOUND", 404, f"the token is not present ({name} while {doing})"
        )
    if value in _WRONG_PIN:
        return BridgeError("PIN_INCORRECT", 403, "the PIN is incorrect")
    if value == PyKCS11.CKR_PIN_LOCKED:
        return BridgeError(
            "PIN_LOCKED", 423, "the PIN is locked; unlock the token with its tool"
        )
    return BridgeError("TOKEN_ERROR", 502, f"the token failed while {doing}: {name}")


@dataclass(frozen=True, slots=True)
class TokenInfo:
    """A token present in a slot (PKCS#11's blank padding stripped)."""

    slot: int
    label: str
    serial: str
    manufacturer: str
    model: str


@dataclass(frozen=True, slots=True)
class CertificateInfo:
    """An X.509 certificate object on a token.

    ``id_hex`` is its ``CKA_ID`` in lower-case hex: the ``key_id_hex`` to sign
    with the matching private key. ``serial_hex`` is the certificate's serial
    number (lower-case hex, no leading zeros); ``not_after`` is in UTC.
    """

    id_hex: str
    label: str
    subject: str
    serial_hex: str
    not_after: datetime
    der: bytes


@dataclass(frozen=True, slots=True)
class Signature:
    """A signature and how it was made.

    ``mechanism`` is the PKCS#11 mechanism used; ``algorithm`` names the
    signature algorithm as CMS does (``sha256_rsa`` for
    sha256WithRSAEncryption, ``sha256_ecdsa`` for ecdsa-with-SHA256).
    """

    value: bytes
    mechanism: str
    algorithm: str


def _text(raw: Any) -> str:
    """A label from the token: UTF-8 by the standard, GB 18030 on some
    Chinese tokens; never fails."""
    data = bytes(raw)
    for encoding in ("utf-8", "gb18030"):
        try:
            return data.decode(encoding).strip(" \x00")
        except UnicodeDecodeError:
            continue
    return data.decode("utf-8", "replace").strip(" \x00")


def _parse_key_id(key_id_hex: str) -> bytes:
    try:
        key_id = bytes.fromhex(key_id_hex)
    except ValueError:
        raise BridgeError(
            "KEY_NOT_FOUND", 404, "the key id is not hexadecimal"
        ) from None
    if not key_id:
        raise BridgeError("KEY_NOT_FOUND", 404, "the key id is empty")
    return key_id


class Tokens:
    """The tokens reachable through one PKCS#11 module.

    Loading the module runs ``C_Initialize``. Many modules (SoftHSM among
    them) only notice tokens plugged in or pulled out at that moment:
    :meth:`rescan` (or ``list_tokens(rescan=True)``) re-initialises it.
    PyKCS11 shares one loaded module among all ``PyKCS11Lib`` objects of a
    process, so a rescan only takes effect when no other object holds the
    same module.
    """

    def __init__(self, module_path: str) -> None:
        self.module_path = module_path
        self._lock = threading.RLock()
        self._lib: Any = None
        self._closed = False
        self._load()

    # -- life cycle ---------------------------------------------------------

    def _load(self) -> None:
        lib = PyKCS11.PyKCS11Lib()
        try:
            lib.load(self.module_path)
        except PyKCS11.PyKCS11Error as e:
            raise BridgeError(
                "TOKEN_ERROR",
                502,
                f"cannot load the PKCS#11 module {self.module_path}",
            ) from e
        self._lib = lib

    def _unload(self) -> None:
        lib, self._lib = self._lib, None
        if lib is not None:
            lib.unload()

    def rescan(self) -> None:
        """Re-initialise the module (``C_Finalize`` then ``C_Initialize``) so
        that it sees tokens inserted or removed since it was loaded."""
        with self._lock:
            if self._closed:
                raise BridgeError("TOKEN_ERROR", 502, "the token access is closed")
            self._unload()
            self._load()

    def close(self) -> None:
        """Unload the module; the object is unusable afterwards."""
        with self._lock:
            self._closed = True
            self._unload()

    def __enter__(self) -> Tokens:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def lib(self) -> Any:
        if self._lib is None:
            raise BridgeError("TOKEN_ERROR", 502, "the PKCS#11 module is not loaded")
        return self._lib

    # -- queries ------------------------------------------------------------

    def list_tokens(self, *, rescan: bool = False) -> list[TokenInfo]:
        """The initialised tokens present, in slot order."""
        with self._lock:
            if rescan:
                self.rescan()
            try:
                slots = self.lib.getSlotList(tokenPresent=True)
            except PyKCS11.PyKCS11Error as e:
                raise error_from_pkcs11(e, "listing the slots") from e
            tokens = []
            for slot in slots:
                try:
                    info = self.lib.getTokenInfo(slot)
                except PyKCS11.PyKCS11Error as e:
                    # Pulled out while we looked, or unreadable: not listed.
                    logger.info("slot %s skipped: %s", slot, _ckr_name(int(e.value)))
                    continue
                if not info.flags & PyKCS11.CKF_TOKEN_INITIALIZED:
                    continue
                tokens.append(
                    TokenInfo(
                        slot=int(slot),
                        label=str(info.label).strip(" \x00"),
                        serial=str(info.serialNumber).strip(" \x00"),
                        manufacturer=str(info.manufacturerID).strip(" \x00"),
                        model=str(info.model).strip(" \x00"),
                    )
                )
            return tokens

    def certificates(self, slot: int) -> list[CertificateInfo]:
        """The X.509 certificates on the token in ``slot`` (no login needed;
        objects that do not parse as X.509 are skipped with a warning)."""
        with self._lock, self._session(slot) as session:
            try:
                handles = session.findObjects(
                    [
                        (PyKCS11.CKA_CLASS, PyKCS11.CKO_CERTIFICATE),
                        (PyKCS11.CKA_CERTIFICATE_TYPE, PyKCS11.CKC_X_509),
                    ]
                )
                attributes = [
                    session.getAttributeValue(
                        handle,
                        [PyKCS11.CKA_ID, PyKCS11.CKA_LABEL, PyKCS11.CKA_VALUE],
                        allAsBinary=True,
                    )
                    for handle in handles
                ]
            except PyKCS11.PyKCS11Error as e:
                raise error_from_pkcs11(e, "reading the certificates") from e
        found = []
        for raw_id, raw_label, raw_value in attributes:
            der = bytes(raw_value)
            try:
                certificate = x509.load_der_x509_certificate(der)
                subject = certificate.subject.rfc4514_string()
            except ValueError:
                logger.warning(
                    "slot %s: certificate %s does not parse as X.509",
                    slot,
                    bytes(raw_id).hex(),
                )
                continue
            found.append(
                CertificateInfo(
                    id_hex=bytes(raw_id).hex(),
                    label=_text(raw_label),
                    subject=subject,
                    serial_hex=format(certificate.serial_number, "x"),
                    not_after=certificate.not_valid_after_utc,
                    der=der,
                )
            )
        return found

    # -- signing ------------------------------------------------------------

    def sign(self, slot: int, pin: str, key_id_hex: str, data: bytes) -> bytes:
        """Sign ``data`` with SHA-256 with the private key whose ``CKA_ID`` is
        ``key_id_hex``, logged in as the user with ``pin``.

        Returns the signature as CMS wants it in ``SignerInfo.signature``:
        PKCS#1 v1.5 for RSA, a DER ECDSA-Sig-Value for EC keys.
        """
        return self.create_signature(slot, pin, key_id_hex, data).value

    def create_signature(
        self, slot: int, pin: str, key_id_hex: str, data: bytes
    ) -> Signature:
        """:meth:`sign`, also telling the mechanism and algorithm used."""
        if len(data) > MAX_SIGN_BYTES:
            raise BridgeError(
                "DATA_TOO_LARGE", 413, f"at most {MAX_SIGN_BYTES} bytes can be signed"
            )
        key_id = _parse_key_id(key_id_hex)
        with self._lock, self._session(slot) as session:
            self._login(session, slot, pin)
            try:
                key = self._private_key(session, key_id)
                signature = self._sign_with(session, key, data)
            finally:
                try:
                    session.logout()
                except PyKCS11.PyKCS11Error as e:
                    logger.info("logout failed: %s", _ckr_name(int(e.value)))
        logger.info(
            "signed %d bytes on slot %s with key %s (%s)",
            len(data),
            slot,
            key_id.hex(),
            signature.mechanism,
        )
        return signature

    # -- helpers ------------------------------------------------------------

    @contextmanager
    def _session(self, slot: int) -> Iterator[Any]:
        """A read-only session on ``slot``, always closed afterwards."""
        try:
            present = self.lib.getSlotList(tokenPresent=True)
        except PyKCS11.PyKCS11Error as e:
            raise error_from_pkcs11(e, "listing the slots") from e
        if slot not in present:
            raise BridgeError("TOKEN_NOT_FOUND", 404, f"no token in slot {slot}")
        try:
            session = self.lib.openSession(slot)
        except PyKCS11.PyKCS11Error as e:
            raise error_from_pkcs11(e, "opening a session") from e
        try:
            yield session
        finally:
            try:
                session.closeSession()
            except PyKCS11.PyKCS11Error as e:
                logger.info("closing the session failed: %s", _ckr_name(int(e.value)))

    def _login(self, session: Any, slot: int, pin: str) -> None:
        try:
            session.login(pin, PyKCS11.CKU_USER)
            return
        except PyKCS11.PyKCS11Error as e:
            if int(e.value) != PyKCS11.CKR_USER_ALREADY_LOGGED_IN:
                raise self._login_error(slot, e) from None
        # Left logged in by someone else in this process: log out, so that the
        # PIN given here is checked rather than trusted.
        try:
            session.logout()
            session.login(pin, PyKCS11.CKU_USER)
        except PyKCS11.PyKCS11Error as e:
            raise self._login_error(slot, e) from None

    def _login_error(self, slot: int, error: PyKCS11.PyKCS11Error) -> BridgeError:
        # ``from None`` at the raise sites: PyKCS11's exception carries no PIN,
        # but nothing about the login attempt needs to travel further.
        bridge_error = error_from_pkcs11(error, "logging in")
        logger.warning("login on slot %s refused: %s", slot, bridge_error.code)
        if bridge_error.code == "PIN_INCORRECT":
            try:
                flags = int(self.lib.getTokenInfo(slot).flags)
            except PyKCS11.PyKCS11Error:
                flags = 0
            if flags & PyKCS11.CKF_USER_PIN_FINAL_TRY:
                bridge_error = BridgeError(
                    "PIN_INCORRECT",
                    403,
                    "the PIN is incorrect; one more wrong PIN locks the token",
                )
        return bridge_error

    @staticmethod
    def _private_key(session: Any, key_id: bytes) -> tuple[Any, int]:
        try:
            handles = session.findObjects(
                [(PyKCS11.CKA_CLASS, PyKCS11.CKO_PRIVATE_KEY), (PyKCS11.CKA_ID, key_id)]
            )
            if not handles:
                raise BridgeError(
                    "KEY_NOT_FOUND", 404, f"no private key with id {key_id.hex()}"
                )
            (key_type,) = session.getAttributeValue(handles[0], [PyKCS11.CKA_KEY_TYPE])
        except PyKCS11.PyKCS11Error as e:
            raise error_from_pkcs11(e, "finding the key") from e
        return handles[0], int(key_type)

    @staticmethod
    def _sign_with(session: Any, key: tuple[Any, int], data: bytes) -> Signature:
        handle, key_type = key
        try:
            if key_type == PyKCS11.CKK_RSA:
                return _sign_rsa(session, handle, data)
            if key_type == PyKCS11.CKK_EC:
                return _sign_ec(session, handle, data)
        except PyKCS11.PyKCS11Error as e:
            raise error_from_pkcs11(e, "signing") from e
        name = PyKCS11.CKK.get(key_type)
        kind = name if isinstance(name, str) else f"0x{key_type:08X}"
        raise BridgeError(
            "KEY_UNSUPPORTED", 422, f"cannot sign with a key of type {kind}"
        )


def _sign_rsa(session: Any, handle: Any, data: bytes) -> Signature:
    try:
        value = session.sign(
            handle, data, PyKCS11.Mechanism(PyKCS11.CKM_SHA256_RSA_PKCS, None)
        )
        return Signature(bytes(value), "CKM_SHA256_RSA_PKCS", "sha256_rsa")
    except PyKCS11.PyKCS11Error as e:
        if int(e.value) != PyKCS11.CKR_MECHANISM_INVALID:
            raise
    # The token cannot hash: hand it the DigestInfo, which gives the same
    # PKCS#1 v1.5 signature.
    digest_info = _SHA256_DIGEST_INFO + hashlib.sha256(data).digest()
    value = session.sign(handle, digest_info, PyKCS11.MechanismRSAPKCS1)
    return Signature(bytes(value), "CKM_RSA_PKCS", "sha256_rsa")


def _sign_ec(session: Any, handle: Any, data: bytes) -> Signature:
    digest = hashlib.sha256(data).digest()
    raw = bytes(
        session.sign(handle, digest, PyKCS11.Mechanism(PyKCS11.CKM_ECDSA, None))
    )
    if not raw or len(raw) % 2:
        raise BridgeError(
            "TOKEN_ERROR", 502, f"the token returned a {len(raw)}-byte ECDSA signature"
        )
    half = len(raw) // 2
    r = int.from_bytes(raw[:half], "big")
    s = int.from_bytes(raw[half:], "big")
    return Signature(encode_dss_signature(r, s), "CKM_ECDSA", "sha256_ecdsa")
