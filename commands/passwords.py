"""Password hashing with argon2id (argon2-cffi's recommended parameters)."""

from __future__ import annotations

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from aggregates.errors import InvalidValue

PASSWORD_MIN_LENGTH = 8
PASSWORD_MAX_LENGTH = 128

_hasher = PasswordHasher()
# Verifying against this hash when an account does not exist makes a wrong
# username take as long as a wrong password, so timing reveals nothing.
_DUMMY_HASH = _hasher.hash("not a password of anyone")


def check_password_rules(password: str) -> None:
    if not PASSWORD_MIN_LENGTH <= len(password) <= PASSWORD_MAX_LENGTH:
        raise InvalidValue(
            f"a password needs {PASSWORD_MIN_LENGTH} to {PASSWORD_MAX_LENGTH} "
            "characters",
            field="password",
            code="WEAK_PASSWORD",
        )
    if password.isdigit() or password.isalpha():
        raise InvalidValue(
            "a password needs both letters and digits or symbols",
            field="password",
            code="WEAK_PASSWORD",
        )


def hash_password(password: str) -> str:
    check_password_rules(password)
    return _hasher.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    try:
        return _hasher.verify(password_hash or _DUMMY_HASH, password) and (
            password_hash is not None
        )
    except (VerificationError, InvalidHashError):
        return False
