"""Content-addressed blobs on the file system, in a temporary directory."""

from __future__ import annotations

import hashlib
import os
import stat
import threading
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from commands.blobs import BlobMissing, BlobStore, FilesystemBlobStore

ABSENT = "0" * 64


@pytest.fixture
def store(tmp_path: Path) -> FilesystemBlobStore:
    return FilesystemBlobStore(tmp_path / "blobs")


def stored_files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file())


def test_a_filesystem_store_is_a_blob_store(tmp_path: Path) -> None:
    store: BlobStore = FilesystemBlobStore(tmp_path)

    digest = store.put(b"x")

    assert store.exists(digest)


def test_put_returns_the_lowercase_hex_sha256_of_the_content(
    store: FilesystemBlobStore,
) -> None:
    data = b"business licence scan"

    digest = store.put(data)

    assert digest == hashlib.sha256(data).hexdigest()


def test_a_stored_blob_is_read_back_unchanged(store: FilesystemBlobStore) -> None:
    data = bytes(range(256)) * 100

    digest = store.put(data)

    assert store.get(digest) == data


def test_an_empty_blob_is_stored_and_read_back(store: FilesystemBlobStore) -> None:
    digest = store.put(b"")

    assert (store.get(digest), store.size(digest)) == (b"", 0)


def test_a_blob_is_stored_under_two_levels_of_its_digest(tmp_path: Path) -> None:
    store = FilesystemBlobStore(tmp_path)

    digest = store.put(b"licence")

    assert stored_files(tmp_path) == [tmp_path / digest[:2] / digest[2:4] / digest]


def test_the_same_content_is_stored_once(tmp_path: Path) -> None:
    store = FilesystemBlobStore(tmp_path)
    first = store.put(b"licence")
    [path] = stored_files(tmp_path)
    inode = path.stat().st_ino

    second = store.put(b"licence")

    assert second == first
    assert stored_files(tmp_path) == [path]
    assert path.stat().st_ino == inode  # not written again


def test_different_contents_are_stored_apart(store: FilesystemBlobStore) -> None:
    first = store.put(b"licence")

    second = store.put(b"permit")

    assert first != second
    assert (store.get(first), store.get(second)) == (b"licence", b"permit")


def test_size_is_the_blobs_length_in_bytes(store: FilesystemBlobStore) -> None:
    digest = store.put(b"12345")

    size = store.size(digest)

    assert size == 5


def test_exists_tells_stored_from_absent_blobs(store: FilesystemBlobStore) -> None:
    digest = store.put(b"licence")

    assert (store.exists(digest), store.exists(ABSENT)) == (True, False)


def test_getting_an_absent_blob_raises_blob_missing(
    store: FilesystemBlobStore,
) -> None:
    with pytest.raises(BlobMissing):
        store.get(ABSENT)


def test_the_size_of_an_absent_blob_raises_blob_missing(
    store: FilesystemBlobStore,
) -> None:
    with pytest.raises(BlobMissing):
        store.size(ABSENT)


def test_blob_missing_is_a_key_error() -> None:
    assert issubclass(BlobMissing, KeyError)


BAD_DIGESTS = [
    pytest.param("../etc/passwd", id="path-traversal"),
    pytest.param("../" * 21 + "e", id="traversal-of-digest-length"),
    pytest.param("A" * 64, id="uppercase"),
    pytest.param("a" * 63, id="63-characters"),
    pytest.param("a" * 65, id="65-characters"),
    pytest.param("a" * 64 + "\n", id="trailing-newline"),
    pytest.param("g" * 64, id="not-hex"),
    pytest.param("", id="empty"),
]


@pytest.mark.parametrize("digest", BAD_DIGESTS)
def test_get_refuses_a_malformed_digest(
    store: FilesystemBlobStore, digest: str
) -> None:
    with pytest.raises(ValueError):
        store.get(digest)


@pytest.mark.parametrize("digest", BAD_DIGESTS)
def test_exists_refuses_a_malformed_digest(
    store: FilesystemBlobStore, digest: str
) -> None:
    with pytest.raises(ValueError):
        store.exists(digest)


@pytest.mark.parametrize("digest", BAD_DIGESTS)
def test_size_refuses_a_malformed_digest(
    store: FilesystemBlobStore, digest: str
) -> None:
    with pytest.raises(ValueError):
        store.size(digest)


def test_a_malformed_digest_is_not_a_missing_blob(
    store: FilesystemBlobStore,
) -> None:
    with pytest.raises(ValueError) as caught:
        store.get("../etc/passwd")

    assert not isinstance(caught.value, BlobMissing)


def test_a_blob_file_is_readable_by_owner_and_group_only(tmp_path: Path) -> None:
    store = FilesystemBlobStore(tmp_path / "blobs")

    digest = store.put(b"licence")

    path = tmp_path / "blobs" / digest[:2] / digest[2:4] / digest
    assert stat.S_IMODE(path.stat().st_mode) == 0o640


def test_blob_directories_are_open_to_owner_and_group_only(tmp_path: Path) -> None:
    root = tmp_path / "blobs"
    store = FilesystemBlobStore(root)
    old_umask = os.umask(0o077)
    try:
        digest = store.put(b"licence")
    finally:
        os.umask(old_umask)

    directories = [root, root / digest[:2], root / digest[:2] / digest[2:4]]
    assert [stat.S_IMODE(d.stat().st_mode) for d in directories] == [0o750] * 3


def test_no_temporary_file_is_left_behind(tmp_path: Path) -> None:
    store = FilesystemBlobStore(tmp_path)

    digest = store.put(b"licence")

    assert [p.name for p in stored_files(tmp_path)] == [digest]


def test_concurrent_puts_of_the_same_content_all_succeed(tmp_path: Path) -> None:
    store = FilesystemBlobStore(tmp_path / "blobs")
    data = os.urandom(256 * 1024)
    start = threading.Barrier(16)
    digests: list[str] = []
    errors: list[BaseException] = []

    def writer() -> None:
        start.wait()
        try:
            digests.append(store.put(data))
        except BaseException as error:  # noqa: BLE001  # collected for the assert
            errors.append(error)

    threads = [threading.Thread(target=writer) for _ in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    assert set(digests) == {hashlib.sha256(data).hexdigest()}
    assert store.get(digests[0]) == data
    assert len(stored_files(tmp_path / "blobs")) == 1


@settings(max_examples=50, deadline=None)
@given(data=st.binary(max_size=2048))
def test_any_content_round_trips(
    tmp_path_factory: pytest.TempPathFactory, data: bytes
) -> None:
    store = FilesystemBlobStore(tmp_path_factory.mktemp("blobs"))

    digest = store.put(data)

    assert (store.get(digest), store.size(digest)) == (data, len(data))
