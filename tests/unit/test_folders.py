"""Reading uploaded folders of files and zipping a record's files, with no
I/O: every archive is built in memory, and the hostile ones are patched byte
by byte where :mod:`zipfile` would not write them."""

from __future__ import annotations

import io
import struct
import tracemalloc
import unicodedata
import zipfile

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from commands.errors import CommandError
from commands.folders import (
    MAX_ARCHIVE_BYTES,
    MAX_MEMBERS,
    MAX_NAME_LENGTH,
    MAX_UNPACKED_BYTES,
    FolderFile,
    FolderRefused,
    Folders,
    read_paths,
    read_zip,
    safe_name,
    sequence_of,
    zip_named,
)

MIB = 1024 * 1024
RESERVED = {"CON", "PRN", "AUX", "NUL"} | {
    f"{port}{digit}" for port in ("COM", "LPT") for digit in "123456789"
}


def archive(*members: tuple[str, bytes], method: int = zipfile.ZIP_DEFLATED) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", method) as zf:
        for name, data in members:
            zf.writestr(zipfile.ZipInfo(name), data, compress_type=method)
    return out.getvalue()


def with_raw_name(raw: bytes, data: bytes = b"content") -> bytes:
    """A one-member zip whose name is ``raw`` as it stands, without the UTF-8
    flag: written under a placeholder of the same length, then patched in the
    local header and the central directory alike."""
    placeholder = b"Q" * len(raw)
    written = archive((placeholder.decode(), data), method=zipfile.ZIP_STORED)
    assert written.count(placeholder) == 2
    return written.replace(placeholder, raw)


def patch_central(data: bytes, index: int, offset: int, fmt: str, value: int) -> bytes:
    """``data`` with one field of one central directory entry overwritten."""
    end = data.rfind(b"PK\x05\x06")
    count, _, position = struct.unpack_from("<HLL", data, end + 10)
    assert index < count
    for _ in range(index):
        name, extra, comment = struct.unpack_from("<HHH", data, position + 28)
        position += 46 + name + extra + comment
    patched = bytearray(data)
    struct.pack_into(fmt, patched, position + offset, value)
    return bytes(patched)


def declaring(data: bytes, index: int, *, packed: int, unpacked: int) -> bytes:
    data = patch_central(data, index, 20, "<L", packed)
    return patch_central(data, index, 24, "<L", unpacked)


def refusal(data: bytes) -> FolderRefused:
    with pytest.raises(FolderRefused) as refused:
        read_zip(data)
    return refused.value


def peak_memory_of(data: bytes) -> tuple[FolderRefused, int]:
    tracemalloc.start()
    try:
        refused = refusal(data)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return refused, peak


def taken(folders: Folders) -> list[tuple[int, str, str]]:
    return [(f.sequence, f.folder, f.name) for f in folders.files]


def codes(folders: Folders) -> list[tuple[str, str]]:
    return [(s.path, s.code) for s in folders.skipped]


# --- numbered folders --------------------------------------------------------


def test_files_in_numbered_folders_are_taken_with_their_sequence_numbers() -> None:
    data = archive(
        ("3/营业执照.jpg", b"licence"),
        ("3-广州白云山/许可证.pdf", b"permit"),
        ("003_xxx/授权书.png", b"letter"),
        ("12/a.jpg", b"a"),
    )

    folders = read_zip(data)

    assert folders.files == [
        FolderFile(3, "3", "营业执照.jpg", b"licence"),
        FolderFile(3, "3-广州白云山", "许可证.pdf", b"permit"),
        FolderFile(3, "003_xxx", "授权书.png", b"letter"),
        FolderFile(12, "12", "a.jpg", b"a"),
    ]
    assert folders.skipped == []


def test_a_file_at_the_top_level_is_skipped_as_not_in_a_folder() -> None:
    data = archive(("1/a.jpg", b"a"), ("营业执照.jpg", b"b"))

    folders = read_zip(data)

    assert taken(folders) == [(1, "1", "a.jpg")]
    assert codes(folders) == [("营业执照.jpg", "NOT_IN_A_FOLDER")]


def test_a_folder_without_a_leading_number_is_skipped_file_by_file() -> None:
    data = archive(("1/a.jpg", b"a"), ("资料/b.jpg", b"b"), ("资料/c.jpg", b"c"))

    folders = read_zip(data)

    assert taken(folders) == [(1, "1", "a.jpg")]
    assert codes(folders) == [
        ("资料/b.jpg", "FOLDER_NOT_NUMBERED"),
        ("资料/c.jpg", "FOLDER_NOT_NUMBERED"),
    ]


def test_one_sub_folder_is_flattened_and_a_deeper_one_is_skipped() -> None:
    data = archive(("1/证照/a.jpg", b"a"), ("1/证照/旧/b.jpg", b"b"))

    folders = read_zip(data)

    assert taken(folders) == [(1, "1", "a.jpg")]
    assert codes(folders) == [("1/证照/旧/b.jpg", "NESTED_TOO_DEEP")]


def test_an_empty_file_is_skipped() -> None:
    data = archive(("1/a.jpg", b"a"), ("1/empty.pdf", b""))

    folders = read_zip(data)

    assert taken(folders) == [(1, "1", "a.jpg")]
    assert codes(folders) == [("1/empty.pdf", "EMPTY_FILE")]


def test_directory_entries_and_macos_and_windows_junk_are_ignored_silently() -> None:
    data = archive(
        ("1/", b""),
        ("1/sub/", b""),
        ("1/a.jpg", b"a"),
        ("1/.DS_Store", b"junk"),
        ("1/._a.jpg", b"junk"),
        ("1/Thumbs.db", b"junk"),
        ("__MACOSX/1/._a.jpg", b"junk"),
        ("__MACOSX/", b""),
        (".DS_Store", b"junk"),
    )

    folders = read_zip(data)

    assert taken(folders) == [(1, "1", "a.jpg")]
    assert folders.skipped == []


def test_backslashes_separate_folders_as_slashes_do() -> None:
    data = archive(("2\\证照\\a.jpg", b"a"))

    folders = read_zip(data)

    assert taken(folders) == [(2, "2", "a.jpg")]


def test_an_outer_folder_without_a_number_around_numbered_ones_is_unwrapped() -> None:
    data = archive(
        ("资料/", b""),
        ("资料/1/a.jpg", b"a"),
        ("资料/2-乙公司/b.pdf", b"b"),
        ("资料/说明.txt", b"c"),
        ("__MACOSX/资料/._说明.txt", b"junk"),
    )

    folders = read_zip(data)

    assert taken(folders) == [(1, "1", "a.jpg"), (2, "2-乙公司", "b.pdf")]
    assert codes(folders) == [("资料/说明.txt", "NOT_IN_A_FOLDER")]


def test_an_outer_numbered_folder_is_a_row_not_a_wrapper() -> None:
    data = archive(("3/1/a.jpg", b"a"))

    folders = read_zip(data)

    assert taken(folders) == [(3, "3", "a.jpg")]


def test_an_outer_folder_without_numbered_folders_inside_is_not_unwrapped() -> None:
    data = archive(("资料/证照/a.jpg", b"a"))

    folders = read_zip(data)

    assert codes(folders) == [("资料/证照/a.jpg", "FOLDER_NOT_NUMBERED")]


def test_a_skipped_path_is_reported_cut_to_255_characters() -> None:
    data = archive(("资" * 300 + "/a.jpg", b"a"))

    folders = read_zip(data)

    assert folders.skipped[0].path == "资" * 255


def test_members_packed_with_bzip2_or_stored_are_read() -> None:
    stored = archive(("1/a.txt", b"stored"), method=zipfile.ZIP_STORED)
    bzip2 = archive(("1/b.txt", b"bzip2" * 100), method=zipfile.ZIP_BZIP2)

    assert read_zip(stored).files[0].data == b"stored"
    assert read_zip(bzip2).files[0].data == b"bzip2" * 100


def test_a_member_packed_by_another_method_is_skipped() -> None:
    data = archive(("1/a.txt", b"lzma"), method=zipfile.ZIP_LZMA)

    folders = read_zip(data)

    assert codes(folders) == [("1/a.txt", "UNSUPPORTED_COMPRESSION")]


def test_an_empty_zip_has_no_files() -> None:
    data = archive()

    folders = read_zip(data)

    assert folders == Folders([], [])


# --- names from Chinese Windows ----------------------------------------------


def test_a_gbk_name_without_the_utf8_flag_is_read_as_chinese() -> None:
    data = with_raw_name("3-白云山/营业执照.jpg".encode("gbk"))

    folders = read_zip(data)

    assert taken(folders) == [(3, "3-白云山", "营业执照.jpg")]


def test_a_utf8_name_without_the_utf8_flag_is_read_as_utf8() -> None:
    data = with_raw_name("3/营业执照.jpg".encode())

    folders = read_zip(data)

    assert taken(folders) == [(3, "3", "营业执照.jpg")]


def test_a_gbk_name_whose_second_byte_is_a_backslash_stays_one_name() -> None:
    data = with_raw_name("1/乗.jpg".encode("gbk"))

    folders = read_zip(data)

    assert "乗".encode("gbk")[1:] == b"\\"
    assert taken(folders) == [(1, "1", "乗.jpg")]


def test_a_name_that_is_neither_utf8_nor_gbk_is_kept_as_cp437() -> None:
    data = with_raw_name(b"1/\x80.jpg")

    folders = read_zip(data)

    assert taken(folders) == [(1, "1", "Ç.jpg")]


def test_a_flagged_utf8_name_is_read_as_it_is() -> None:
    data = archive(("1/营业执照.jpg", b"a"))

    folders = read_zip(data)

    assert taken(folders) == [(1, "1", "营业执照.jpg")]


# --- archives refused whole --------------------------------------------------

HOSTILE_PATHS = [
    "../evil.txt",
    "/abs",
    "C:\\x",
    "c:x",
    "a/../../x",
    "1\\..\\..\\x",
    "\\\\server\\share\\x",
    "1/.. /x",
]


@pytest.mark.parametrize("name", HOSTILE_PATHS)
def test_a_zip_slip_refuses_the_whole_archive(name: str) -> None:
    data = archive(("1/good.jpg", b"good"), (name, b"evil"))

    refused = refusal(data)

    assert (refused.code, refused.status) == ("ZIP_UNSAFE_PATH", 422)


def test_a_name_holding_nul_refuses_the_whole_archive() -> None:
    data = with_raw_name(b"1/a\x00.jpg")

    refused = refusal(data)

    assert refused.code == "ZIP_UNSAFE_PATH"


def test_a_slip_hidden_in_macos_junk_still_refuses_the_archive() -> None:
    data = archive(("__MACOSX/../../evil", b"evil"))

    refused = refusal(data)

    assert refused.code == "ZIP_UNSAFE_PATH"


@settings(max_examples=50)
@given(st.binary(max_size=200).filter(lambda b: not b.startswith(b"PK")))
def test_content_that_is_not_a_zip_is_refused_as_unsupported(data: bytes) -> None:
    refused = refusal(data)

    assert (refused.code, refused.status) == ("ZIP_INVALID", 415)


def test_a_damaged_zip_is_refused_as_invalid() -> None:
    data = b"PK\x03\x04" + b"\xff" * 100

    refused = refusal(data)

    assert (refused.code, refused.status) == ("ZIP_INVALID", 422)


def test_a_member_whose_content_fails_its_checksum_refuses_the_archive() -> None:
    data = archive(("1/a.txt", b"hello world"), method=zipfile.ZIP_STORED)

    refused = refusal(data.replace(b"hello world", b"HELLO world"))

    assert (refused.code, refused.status) == ("ZIP_INVALID", 422)


def test_an_archive_over_200_mib_is_refused_before_it_is_opened() -> None:
    data = b"PK\x03\x04" + bytes(MAX_ARCHIVE_BYTES)

    refused = refusal(data)

    assert (refused.code, refused.status) == ("FILE_TOO_LARGE", 413)


def test_an_archive_of_more_than_5000_members_is_refused() -> None:
    members = [(f"1/{i}.txt", b"x") for i in range(MAX_MEMBERS + 1)]
    data = archive(*members, method=zipfile.ZIP_STORED)

    refused = refusal(data)

    assert (refused.code, refused.status) == ("ZIP_TOO_MANY_FILES", 422)


def test_an_encrypted_member_refuses_the_archive() -> None:
    data = patch_central(archive(("1/a.txt", b"secret")), 0, 8, "<H", 0x1)

    refused = refusal(data)

    assert (refused.code, refused.status) == ("ZIP_ENCRYPTED", 422)


def test_a_tightly_packed_member_is_refused_as_a_bomb_without_being_inflated() -> None:
    data = archive(("1/zeros.bin", bytes(20 * MIB)))

    refused, peak = peak_memory_of(data)

    assert len(data) < 100_000
    assert (refused.code, refused.status) == ("ZIP_BOMB", 422)
    assert peak < MIB


def test_a_tightly_packed_member_of_up_to_1_mib_is_read() -> None:
    data = archive(("1/zeros.bin", bytes(MIB)))

    folders = read_zip(data)

    assert folders.files[0].data == bytes(MIB)


def test_declared_sizes_over_500_mib_together_are_refused_before_any_is_read() -> None:
    data = archive(*[(f"1/{i}.bin", b"x") for i in range(3)])
    size = MAX_UNPACKED_BYTES // 3 + 1
    for index in range(3):
        data = declaring(data, index, packed=size, unpacked=size)

    refused = refusal(data)

    assert refused.code == "ZIP_BOMB"


def test_a_member_unpacking_beyond_its_declared_size_is_a_bomb_caught_early() -> None:
    honest = archive(("1/zeros.bin", bytes(50 * MIB)))
    data = patch_central(honest, 0, 24, "<L", 1000)

    refused, peak = peak_memory_of(data)

    assert (refused.code, refused.status) == ("ZIP_BOMB", 422)
    assert peak < 2 * MIB


def test_a_refusal_is_a_command_error_with_code_and_status() -> None:
    refused = refusal(b"not a zip")

    assert isinstance(refused, CommandError)
    assert refused.message == "the file is not a zip archive"


# --- folder uploads ----------------------------------------------------------


def test_uploaded_paths_are_taken_like_a_zips_members() -> None:
    items = [
        ("3/营业执照.jpg", b"licence"),
        ("3-广州白云山/证照/许可证.pdf", b"permit"),
        ("4\\授权书.png", b"letter"),
        ("说明.txt", b"readme"),
        ("4/.DS_Store", b"junk"),
    ]

    folders = read_paths(items)

    assert taken(folders) == [
        (3, "3", "营业执照.jpg"),
        (3, "3-广州白云山", "许可证.pdf"),
        (4, "4", "授权书.png"),
    ]
    assert codes(folders) == [("说明.txt", "NOT_IN_A_FOLDER")]


def test_a_browsers_folder_upload_is_unwrapped_from_the_chosen_folder() -> None:
    items = iter([("资料/1/a.jpg", b"a"), ("资料/2/b.pdf", b"b")])

    folders = read_paths(items)

    assert taken(folders) == [(1, "1", "a.jpg"), (2, "2", "b.pdf")]


@pytest.mark.parametrize("path", [*HOSTILE_PATHS, "1/a\x00.jpg"])
def test_a_hostile_relative_path_refuses_the_whole_upload(path: str) -> None:
    items = [("1/good.jpg", b"good"), (path, b"evil")]

    with pytest.raises(FolderRefused) as refused:
        read_paths(items)

    assert (refused.value.code, refused.value.status) == ("ZIP_UNSAFE_PATH", 422)


def test_an_upload_of_more_than_5000_files_is_refused() -> None:
    items = ((f"1/{i}.txt", b"x") for i in range(MAX_MEMBERS + 1))

    with pytest.raises(FolderRefused) as refused:
        read_paths(items)

    assert refused.value.code == "ZIP_TOO_MANY_FILES"


def test_uploaded_files_over_500_mib_together_are_refused() -> None:
    chunk = bytes(100 * MIB)
    items = [(f"1/{i}.bin", chunk) for i in range(6)]

    with pytest.raises(FolderRefused) as refused:
        read_paths(items)

    assert (refused.value.code, refused.value.status) == ("FILE_TOO_LARGE", 413)


# --- sequence numbers --------------------------------------------------------


@pytest.mark.parametrize(
    ("folder", "sequence"),
    [
        ("3", 3),
        ("3-广州白云山", 3),
        ("003_xxx", 3),
        ("12 甲公司", 12),
        ("０３", 3),
        ("0", 0),
        ("0000000001x", 1),
        ("999999999", 999999999),
        ("1234567890", None),
        ("广州3", None),
        ("-3", None),
        ("", None),
    ],
)
def test_a_folders_sequence_number_is_its_leading_digits(
    folder: str, sequence: int | None
) -> None:
    assert sequence_of(folder) == sequence


def not_led_by_a_digit(text: str) -> bool:
    return not text[:1] or text[0] not in "0123456789０１２３４５６７８９"


@given(
    st.integers(min_value=0, max_value=999_999_999),
    st.integers(min_value=0, max_value=3),
    st.text(max_size=20).filter(not_led_by_a_digit),
)
def test_any_number_padded_and_followed_by_a_name_is_read_back(
    number: int, zeros: int, rest: str
) -> None:
    assert sequence_of("0" * zeros + str(number) + rest) == number


# --- safe names --------------------------------------------------------------


@pytest.mark.parametrize(
    ("given_name", "safe"),
    [
        ("营业执照.jpg", "营业执照.jpg"),
        ("../../etc/passwd", "passwd"),
        ("C:\\Users\\张三\\营业执照.jpg", "营业执照.jpg"),
        ("证照/", "证照"),
        ('a<b>c:d"e|f?g*h.pdf', "a_b_c_d_e_f_g_h.pdf"),
        ("a\x00b\x1fc.txt", "a_b_c.txt"),
        (" . 营业   执照\u3000 .jpg . ", "营业 执照 .jpg"),
        ("营业\t执照\n.jpg", "营业_执照_.jpg"),
        ("a\ud800.txt", "a_.txt"),
        ("e\u0301.jpg", "é.jpg"),
        ("invoice\u202egpj.exe", "invoicegpj.exe"),
        ("", "file"),
        ("...", "file"),
        ("/", "file"),
    ],
)
def test_a_name_is_made_safe(given_name: str, safe: str) -> None:
    assert safe_name(given_name) == safe


@pytest.mark.parametrize(
    ("given_name", "safe"),
    [
        ("CON", "_CON"),
        ("con.txt", "_con.txt"),
        ("Lpt9.tar.gz", "_Lpt9.tar.gz"),
        ("nul .pdf", "_nul .pdf"),
        ("COM10.txt", "COM10.txt"),
        ("CONSOLE.txt", "CONSOLE.txt"),
    ],
)
def test_a_windows_device_name_is_prefixed(given_name: str, safe: str) -> None:
    assert safe_name(given_name) == safe


def test_a_long_name_is_cut_to_120_characters_keeping_its_extension() -> None:
    name = "营业执照" * 50 + ".pdf"

    safe = safe_name(name)

    assert len(safe) == MAX_NAME_LENGTH
    assert safe == "营业执照" * 29 + ".pdf"


def test_a_long_name_without_an_extension_is_cut_to_120_characters() -> None:
    assert safe_name("长" * 200) == "长" * MAX_NAME_LENGTH


names = st.text(
    alphabet=st.one_of(
        st.characters(codec="utf-8"),
        st.sampled_from('/\\.<>:"|?* \t\x00\u202e\u0301COMLPTNULAUX1'),
    ),
    max_size=300,
)


@settings(max_examples=500)
@given(names)
def test_a_safe_name_is_never_a_path_a_device_or_empty(name: str) -> None:
    safe = safe_name(name)

    assert safe
    assert len(safe) <= MAX_NAME_LENGTH
    assert not set(safe) & set('/\\\x00<>:"|?*')
    assert all(unicodedata.category(c) not in ("Cc", "Cf", "Cs") for c in safe)
    assert safe == safe.strip(" .")
    assert "  " not in safe
    assert safe.split(".", 1)[0].rstrip(" ").upper() not in RESERVED


@settings(max_examples=500)
@given(names)
def test_a_safe_name_stays_as_it_is(name: str) -> None:
    safe = safe_name(name)

    assert safe_name(safe) == safe


# --- zips for download -------------------------------------------------------


def test_a_download_zip_holds_the_files_with_repeated_names_numbered() -> None:
    entries = [
        ("营业执照.jpg", b"first"),
        ("营业执照.jpg", b"second"),
        ("营业执照.JPG", b"third"),
        ("3/许可证.pdf", b"fourth"),
    ]

    data = zip_named(entries)

    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        read = [(i.filename, zf.read(i)) for i in zf.infolist()]
        infos = zf.infolist()
    assert read == [
        ("营业执照.jpg", b"first"),
        ("营业执照 (2).jpg", b"second"),
        ("营业执照 (3).JPG", b"third"),
        ("许可证.pdf", b"fourth"),
    ]
    assert all(i.flag_bits & 0x800 for i in infos)
    assert all(i.compress_type == zipfile.ZIP_DEFLATED for i in infos)
    assert all(i.date_time == (1980, 1, 1, 0, 0, 0) for i in infos)


def test_the_same_files_always_give_the_same_zip() -> None:
    entries = [("营业执照.jpg", b"a" * 1000), ("许可证.pdf", b"b")]

    first = zip_named(entries)
    second = zip_named(list(entries))

    assert first == second


def test_a_long_repeated_name_is_numbered_within_120_characters() -> None:
    name = "长" * 200 + ".pdf"

    data = zip_named([(name, b"a"), (name, b"b")])

    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        second = zf.namelist()[1]
    assert second.endswith(" (2).pdf")
    assert len(second) == MAX_NAME_LENGTH


@settings(max_examples=100)
@given(st.lists(st.tuples(names, st.binary(max_size=20)), max_size=8))
def test_a_download_zip_has_distinct_safe_names_and_the_given_contents(
    entries: list[tuple[str, bytes]],
) -> None:
    data = zip_named(entries)

    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        read = [(i.filename, zf.read(i)) for i in zf.infolist()]
    assert [content for _, content in read] == [content for _, content in entries]
    assert len({name.casefold() for name, _ in read}) == len(read)
    assert all(safe_name(name) == name for name, _ in read)
