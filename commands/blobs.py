"""Content-addressed storage of uploaded files: a blob is named by the
lowercase hex SHA-256 of its bytes, so storing the same content twice stores
it once, and a stored blob never changes.

:class:`FilesystemBlobStore` keeps blobs under a directory; an S3-compatible
store implements the same four methods with the digest as the object key.
Blobs are written before the events that name them are saved: a blob written
for a command whose events then fail to save is an orphan, harmless, and
removable by a sweep of the digests no event names.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import tempfile
from pathlib import Path
from typing import Protocol

__all__ = ["BlobMissing", "BlobStore", "FilesystemBlobStore", "check_digest"]

_DIGEST = re.compile(r"[0-9a-f]{64}")
FILE_MODE = 0o640
DIRECTORY_MODE = 0o750


class BlobMissing(KeyError):
    """No blob is stored under the digest."""


class BlobStore(Protocol):
    def put(self, data: bytes) -> str:
        """Stores ``data`` and returns its lowercase hex SHA-256."""
        ...

    def get(self, digest: str) -> bytes:
        """The blob's bytes; :class:`BlobMissing` if none is stored."""
        ...

    def exists(self, digest: str) -> bool: ...

    def size(self, digest: str) -> int:
        """The blob's length in bytes; :class:`BlobMissing` if none is stored."""
        ...


def check_digest(digest: str) -> str:
    """``digest`` if it is 64 lowercase hex characters, else ``ValueError``."""
    if not isinstance(digest, str) or not _DIGEST.fullmatch(digest):
        raise ValueError(f"not a lowercase hex SHA-256 digest: {digest!r:.80}")
    return digest


class FilesystemBlobStore:
    """Blobs as files ``root/ab/cd/<digest>``, written atomically: to a
    temporary file in the same directory, synced, then renamed over the name,
    so a reader never sees part of a blob and concurrent writers of the same
    content are safe. Files are created 0o640, directories 0o750."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def _path(self, digest: str) -> Path:
        check_digest(digest)
        return self.root / digest[:2] / digest[2:4] / digest

    def put(self, data: bytes) -> str:
        digest = hashlib.sha256(data).hexdigest()
        path = self._path(digest)
        if path.is_file():
            return digest
        _make_directories(self.root, path.parent)
        fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
        try:
            with os.fdopen(fd, "wb") as file:
                os.fchmod(file.fileno(), FILE_MODE)
                file.write(data)
                file.flush()
                os.fsync(file.fileno())
            os.replace(temporary, path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(temporary)
            raise
        _sync_directory(path.parent)
        return digest

    def get(self, digest: str) -> bytes:
        try:
            return self._path(digest).read_bytes()
        except FileNotFoundError:
            raise BlobMissing(digest) from None

    def exists(self, digest: str) -> bool:
        return self._path(digest).is_file()

    def size(self, digest: str) -> int:
        try:
            return self._path(digest).stat().st_size
        except FileNotFoundError:
            raise BlobMissing(digest) from None


def _make_directories(root: Path, directory: Path) -> None:
    """Creates ``directory`` and its parents up to and including ``root``,
    each 0o750 whatever the umask; existing ones are left as they are."""
    missing: list[Path] = []
    current = directory
    while not current.is_dir():
        missing.append(current)
        if current == root:
            break
        current = current.parent
    for path in reversed(missing):
        try:
            path.mkdir(mode=DIRECTORY_MODE)
        except FileExistsError:
            continue  # another writer made it first
        os.chmod(path, DIRECTORY_MODE)


def _sync_directory(directory: Path) -> None:
    """Makes the rename durable: the new name is in the directory on disk."""
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
