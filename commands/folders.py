"""Reading uploaded folders of files for a batch import, and zipping a
record's files for download.

A batch import matches folders to the rows of a sheet uploaded before: the
name of each top-level folder starts with the sequence number (序号) of its
row, so ``3``, ``3-广州白云山`` and ``003_xxx`` all mean row 3. The folders
arrive as one zip archive (:func:`read_zip`) or as many files with relative
paths such as ``3/营业执照.jpg`` (:func:`read_paths`); both give
:class:`Folders`.

The whole upload is refused with :class:`FolderRefused`, and nothing is
returned, when it cannot be read safely:

- ``FILE_TOO_LARGE`` (413): an archive over 200 MiB, or uploaded files over
  500 MiB together;
- ``ZIP_INVALID``: not a zip archive at all (415) or a damaged one (422);
- ``ZIP_UNSAFE_PATH`` (422): a name that is absolute (``/x``, ``C:\\x``,
  ``\\\\server\\x``), has ``..`` as a part or holds NUL (a "zip slip");
- ``ZIP_TOO_MANY_FILES`` (422): more than 5000 entries;
- ``ZIP_ENCRYPTED`` (422): a password-protected member;
- ``ZIP_BOMB`` (422): members declared to unpack to more than 500 MiB
  together, or a member over 1 MiB packed more than 200 times. The sizes the
  central directory declares are checked before any member is read, and each
  member is then inflated with a hard cap of its declared size plus one byte,
  so a header that lies about its size is caught without the memory the lie
  would take.

Otherwise each file is judged on its own, and one not taken is reported as
:class:`Skipped`: a file outside every folder (``NOT_IN_A_FOLDER``), in a
folder whose name has no leading number (``FOLDER_NOT_NUMBERED``), more than
one sub-folder below its numbered folder (``NESTED_TOO_DEEP``; one sub-folder
is allowed and flattened), empty (``EMPTY_FILE``), or packed by a method other
than stored, deflate or bzip2 (``UNSUPPORTED_COMPRESSION``). Directory
entries and the litter of macOS and Windows (``__MACOSX/``, ``.DS_Store``,
``._*``, ``Thumbs.db``, ``desktop.ini``) are passed over without a word. An
upload wrapped in one folder without a number that holds numbered folders
(``资料/1/a.jpg``, ``资料/2/b.pdf``), as "compress this folder" and a
browser's folder upload both give, is unwrapped.

Zips made on Chinese Windows name their members in GBK without the UTF-8
flag. When the flag is missing, a name's raw bytes are read as UTF-8 if they
are that, else as GBK if they are that, else as the zip standard's CP437.
``/`` and ``\\`` both separate the parts of a path.
"""

from __future__ import annotations

import bz2
import io
import re
import struct
import unicodedata
import zipfile
import zlib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from functools import partial

from commands.errors import CommandError

MAX_ARCHIVE_BYTES = 200 * 1024 * 1024
MAX_MEMBERS = 5000
MAX_UNPACKED_BYTES = 500 * 1024 * 1024
MAX_RATIO = 200
#: Members up to this size may be packed as tightly as they like.
RATIO_FREE_BYTES = 1024 * 1024
MAX_NAME_LENGTH = 120
MAX_REPORTED_PATH = 255

_ZIP_MAGIC = (b"PK\x03\x04", b"PK\x05\x06")
_LOCAL_SIGNATURE = b"PK\x03\x04"
_CENTRAL_SIGNATURE = b"PK\x01\x02"
#: Python parses the whole central directory before the entries can be
#: counted. Each entry it parses starts with a central signature, so counting
#: those first bounds the work; stored zips inside the archive may add a few.
_MAX_CENTRAL_SIGNATURES = 4 * MAX_MEMBERS
#: Signature, version, flags, method, time, date, CRC, sizes, name and extra
#: lengths.
_LOCAL_HEADER = struct.Struct("<4s5H3L2H")
_ENCRYPTED_FLAG = 0x1
_UTF8_FLAG = 0x800
_METHODS = (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED, zipfile.ZIP_BZIP2)

_SEPARATORS = re.compile(r"[/\\]")
_DRIVE = re.compile(r"[A-Za-z]:")
_SPACES = re.compile(r" {2,}")
_LEADING_DIGITS = re.compile(r"\s*([0-9]+)")
_FULL_WIDTH_DIGITS = str.maketrans("０１２３４５６７８９", "0123456789")
_MAX_SEQUENCE_DIGITS = 9
_FORBIDDEN = frozenset('<>:"/\\|?*')
_RESERVED = frozenset(
    {"CON", "PRN", "AUX", "NUL", "CONIN$", "CONOUT$"}
    | {f"{port}{digit}" for port in ("COM", "LPT") for digit in "123456789¹²³"}
)
_MAX_EXTENSION = 16
_JUNK_FOLDER = "__macosx"
_JUNK_FILES = frozenset({".ds_store", "thumbs.db", "desktop.ini"})
_EPOCH = (1980, 1, 1, 0, 0, 0)


class FolderRefused(CommandError):
    """An upload of folders that is not read at all; nothing is stored."""

    def __init__(self, message: str, *, code: str, status: int) -> None:
        super().__init__(message)
        self.code = code
        self.status = status


@dataclass(frozen=True)
class FolderFile:
    """A file taken from a numbered folder."""

    sequence: int
    folder: str
    name: str
    data: bytes


@dataclass(frozen=True)
class Skipped:
    """A file not taken, and why."""

    path: str
    code: str
    message: str


@dataclass(frozen=True)
class Folders:
    files: list[FolderFile]
    skipped: list[Skipped]


class _Unreadable(Exception):
    """A member that cannot be read, though the archive can."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True)
class _Entry:
    path: str
    parts: tuple[str, ...]
    read: Callable[[], bytes]


def read_zip(data: bytes) -> Folders:
    """The files of a zip archive of numbered folders."""
    view = memoryview(data)
    entries = [
        _Entry(name, _parts(name), partial(_inflate, view, info))
        for info, name in _members(data)
        if not name.endswith(("/", "\\"))
    ]
    return _sort(entries)


def read_paths(items: Iterable[tuple[str, bytes]]) -> Folders:
    """The files of a folder upload, as (relative path, content) pairs."""
    entries: list[_Entry] = []
    total = 0
    for count, (path, data) in enumerate(items, start=1):
        if count > MAX_MEMBERS:
            raise _too_many()
        if _unsafe(path):
            raise _unsafe_path(path)
        total += len(data)
        if total > MAX_UNPACKED_BYTES:
            raise FolderRefused(
                f"the files hold more than {MAX_UNPACKED_BYTES} bytes together",
                code="FILE_TOO_LARGE",
                status=413,
            )
        entries.append(_Entry(path, _parts(path), partial(bytes, data)))
    return _sort(entries)


def sequence_of(folder: str) -> int | None:
    """The sequence number a folder's name starts with: ``"003_x"`` is 3.
    Full-width digits count; more than nine digits are no sequence number."""
    match = _LEADING_DIGITS.match(folder.translate(_FULL_WIDTH_DIGITS))
    if match is None:
        return None
    digits = match.group(1).lstrip("0") or "0"
    if len(digits) > _MAX_SEQUENCE_DIGITS:
        return None
    return int(digits)


def safe_name(name: str) -> str:
    """A file name that is safe on every common file system: its last path
    part, without control or reserved characters, tidied, never a Windows
    device name, at most :data:`MAX_NAME_LENGTH` characters with its
    extension kept, and never empty."""
    parts = [part for part in _SEPARATORS.split(name) if part]
    text = "".join(_safe_char(c) for c in parts[-1]) if parts else ""
    text = unicodedata.normalize("NFC", text)
    text = _SPACES.sub(" ", text).strip(" .")
    text = _cap(text)
    if _reserved(text):
        text = _cap("_" + text)
    return text or "file"


def zip_named(entries: Sequence[tuple[str, bytes]]) -> bytes:
    """A zip archive of the given names and contents, for download.

    Names pass through :func:`safe_name` and are stored as UTF-8 (flagged), a
    name met again in any case is numbered before its extension
    (``营业执照 (2).jpg``), and every timestamp is 1980-01-01, so the same
    entries always give the same bytes."""
    out = io.BytesIO()
    taken: set[str] = set()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in entries:
            unique = _unused(safe_name(name), taken)
            taken.add(unique.casefold())
            info = zipfile.ZipInfo(unique, date_time=_EPOCH)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.create_system = 3
            info.external_attr = 0o100644 << 16
            archive.writestr(info, data)
    return out.getvalue()


def _members(data: bytes) -> list[tuple[zipfile.ZipInfo, str]]:
    """The archive's members with their names, once the archive as a whole
    has been found safe to read."""
    if len(data) > MAX_ARCHIVE_BYTES:
        raise FolderRefused(
            f"the archive has {len(data)} bytes; at most {MAX_ARCHIVE_BYTES} "
            "are allowed",
            code="FILE_TOO_LARGE",
            status=413,
        )
    if not data.startswith(_ZIP_MAGIC):
        raise FolderRefused(
            "the file is not a zip archive", code="ZIP_INVALID", status=415
        )
    if data.count(_CENTRAL_SIGNATURE) > _MAX_CENTRAL_SIGNATURES:
        raise _too_many()
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            infos = archive.infolist()
    except (
        zipfile.BadZipFile,
        ValueError,
        OSError,
        EOFError,
        NotImplementedError,
        struct.error,
    ):
        raise _damaged() from None
    if len(infos) > MAX_MEMBERS:
        raise _too_many()
    members = [(info, _member_name(info)) for info in infos]
    for info, name in members:
        if _unsafe(info.orig_filename) or _unsafe(name):
            raise _unsafe_path(name)
    if any(info.flag_bits & _ENCRYPTED_FLAG for info in infos):
        raise FolderRefused(
            "the archive is protected by a password; upload it without one",
            code="ZIP_ENCRYPTED",
            status=422,
        )
    unpacked = sum(info.file_size for info in infos)
    if unpacked > MAX_UNPACKED_BYTES:
        raise _bomb(f"the archive unpacks to {unpacked} bytes")
    for info, name in members:
        if (
            info.file_size > RATIO_FREE_BYTES
            and info.file_size > MAX_RATIO * info.compress_size
        ):
            raise _bomb(f"{name[:MAX_REPORTED_PATH]!r} is packed too tightly")
    return members


def _member_name(info: zipfile.ZipInfo) -> str:
    """A member's name, read as GBK when Chinese Windows wrote it."""
    name = info.orig_filename
    if info.flag_bits & _UTF8_FLAG:
        return name
    try:
        raw = name.encode("cp437")
    except UnicodeEncodeError:
        return name
    if raw.isascii():
        return name
    for encoding in ("utf-8", "gbk"):
        try:
            return raw.decode(encoding)
        except UnicodeDecodeError:
            continue
    return name


def _inflate(archive: memoryview, info: zipfile.ZipInfo) -> bytes:
    """A member's content, never more than one byte beyond its declared
    size."""
    if info.compress_type not in _METHODS:
        raise _Unreadable(
            "UNSUPPORTED_COMPRESSION",
            f"the file is packed with method {info.compress_type}; pack the "
            "archive again with the usual (deflate) method",
        )
    start = info.header_offset
    if start < 0:
        raise _damaged()
    header = archive[start : start + _LOCAL_HEADER.size]
    if len(header) != _LOCAL_HEADER.size:
        raise _damaged()
    fields = _LOCAL_HEADER.unpack(header)
    if fields[0] != _LOCAL_SIGNATURE:
        raise _damaged()
    begin = start + _LOCAL_HEADER.size + fields[9] + fields[10]
    packed = archive[begin : begin + info.compress_size]
    if len(packed) != info.compress_size:
        raise _damaged()
    limit = info.file_size + 1
    try:
        if info.compress_type == zipfile.ZIP_DEFLATED:
            data = zlib.decompressobj(-zlib.MAX_WBITS).decompress(packed, limit)
        elif info.compress_type == zipfile.ZIP_BZIP2:
            data = bz2.BZ2Decompressor().decompress(packed, limit)
        else:
            data = bytes(packed[:limit])
    except (zlib.error, OSError, EOFError, ValueError):
        raise _damaged() from None
    if len(data) > info.file_size:
        raise _bomb(
            f"{_member_name(info)[:MAX_REPORTED_PATH]!r} unpacks to more than "
            f"the {info.file_size} bytes it declares"
        )
    if len(data) < info.file_size or zlib.crc32(data) != info.CRC:
        raise _damaged()
    return data


def _sort(entries: list[_Entry]) -> Folders:
    kept = [e for e in entries if e.parts and not _junk(e.parts)]
    if _wrapped(kept):
        kept = [replace(e, parts=e.parts[1:]) for e in kept]
    files: list[FolderFile] = []
    skipped: list[Skipped] = []
    for entry in kept:
        try:
            files.append(_take(entry))
        except _Unreadable as unreadable:
            path = entry.path[:MAX_REPORTED_PATH]
            skipped.append(Skipped(path, unreadable.code, unreadable.message))
    return Folders(files, skipped)


def _take(entry: _Entry) -> FolderFile:
    parts = entry.parts
    if len(parts) == 1:
        raise _Unreadable(
            "NOT_IN_A_FOLDER",
            "the file is not in a folder; put it in the folder named after "
            "the sequence number of its row",
        )
    sequence = sequence_of(parts[0])
    if sequence is None:
        raise _Unreadable(
            "FOLDER_NOT_NUMBERED",
            f"the folder {parts[0][:MAX_REPORTED_PATH]!r} does not start with "
            "the sequence number of a row",
        )
    if len(parts) > 3:
        raise _Unreadable(
            "NESTED_TOO_DEEP",
            "the file is more than one folder below its numbered folder",
        )
    data = entry.read()
    if not data:
        raise _Unreadable("EMPTY_FILE", "the file is empty")
    return FolderFile(sequence, parts[0], safe_name(parts[-1]), data)


def _wrapped(entries: list[_Entry]) -> bool:
    """Whether every file sits in one outer folder without a number that
    holds numbered folders."""
    outer = {e.parts[0] for e in entries}
    return (
        len(outer) == 1
        and sequence_of(outer.pop()) is None
        and any(
            len(e.parts) > 2 and sequence_of(e.parts[1]) is not None for e in entries
        )
    )


def _parts(path: str) -> tuple[str, ...]:
    return tuple(part for part in _SEPARATORS.split(path) if part not in ("", "."))


def _junk(parts: tuple[str, ...]) -> bool:
    name = parts[-1]
    return (
        any(part.casefold() == _JUNK_FOLDER for part in parts)
        or name.casefold() in _JUNK_FILES
        or name.startswith("._")
    )


def _unsafe(path: str) -> bool:
    """Whether a path could reach outside the folder it is unpacked in."""
    if "\x00" in path or path.startswith(("/", "\\")) or _DRIVE.match(path):
        return True
    return any(
        ".." in part and not part.strip(" .") for part in _SEPARATORS.split(path)
    )


def _safe_char(c: str) -> str:
    category = unicodedata.category(c)
    if c in _FORBIDDEN or category in ("Cc", "Cs"):
        return "_"
    if category == "Cf":  # invisible: bidi overrides, zero-width spaces
        return ""
    if c.isspace():
        return " "
    return c


def _split_extension(name: str) -> tuple[str, str]:
    dot = name.rfind(".")
    extension = name[dot:]
    if dot <= 0 or len(extension) > _MAX_EXTENSION or " " in extension:
        return name, ""
    return name[:dot], extension


def _cap(name: str) -> str:
    if len(name) <= MAX_NAME_LENGTH:
        return name
    stem, extension = _split_extension(name)
    return stem[: MAX_NAME_LENGTH - len(extension)].rstrip(" .") + extension


def _reserved(name: str) -> bool:
    return name.split(".", 1)[0].rstrip(" ").upper() in _RESERVED


def _unused(name: str, taken: set[str]) -> str:
    """``name``, or it numbered before its extension if it is taken."""
    if name.casefold() not in taken:
        return name
    stem, extension = _split_extension(name)
    number = 2
    while True:
        suffix = f" ({number})"
        room = MAX_NAME_LENGTH - len(suffix) - len(extension)
        candidate = stem[:room].rstrip(" .") + suffix + extension
        if candidate.casefold() not in taken:
            return candidate
        number += 1


def _too_many() -> FolderRefused:
    return FolderRefused(
        f"the upload has more than {MAX_MEMBERS} files",
        code="ZIP_TOO_MANY_FILES",
        status=422,
    )


def _unsafe_path(path: str) -> FolderRefused:
    return FolderRefused(
        f"the path {path[:MAX_REPORTED_PATH]!r} leads outside its folder",
        code="ZIP_UNSAFE_PATH",
        status=422,
    )


def _damaged() -> FolderRefused:
    return FolderRefused(
        "the archive is damaged and cannot be read", code="ZIP_INVALID", status=422
    )


def _bomb(reason: str) -> FolderRefused:
    return FolderRefused(
        f"{reason}; the archive is refused as a zip bomb",
        code="ZIP_BOMB",
        status=422,
    )
