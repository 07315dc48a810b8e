"""Judging an uploaded file by its content, on files built in memory."""

from __future__ import annotations

import hashlib
import io
import struct
import zipfile

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from commands import uploads
from commands.errors import CommandError
from commands.uploads import (
    MAX_IMAGE_BYTES,
    MAX_PDF_BYTES,
    CheckedFile,
    UploadRefused,
    check_upload,
)

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def image_bytes(fmt: str, size: tuple[int, int] = (40, 30), mode: str = "RGB") -> bytes:
    buffer = io.BytesIO()
    Image.new(mode, size, "white").save(buffer, fmt)
    return buffer.getvalue()


def pdf_of_images(pages: int = 1) -> bytes:
    images = [Image.new("RGB", (60, 80), "white") for _ in range(pages)]
    buffer = io.BytesIO()
    images[0].save(buffer, "PDF", save_all=True, append_images=images[1:])
    return buffer.getvalue()


def pdf_from_objects(objects: list[bytes], trailer: bytes = b"") -> bytes:
    """A PDF with a correct cross-reference table; object 1 is the catalog."""
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    for offset in offsets:
        out += b"%010d 00000 n \n" % offset
    out += b"trailer\n<< /Size %d /Root 1 0 R " % (len(objects) + 1)
    out += trailer + b">>\nstartxref\n%d\n%%%%EOF\n" % xref
    return bytes(out)


_PAGE_OBJECTS = [
    b"<< /Type /Catalog /Pages 2 0 R >>",
    b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
    b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 200 200] >>",
]

_PASSWORD_PADDING = bytes.fromhex(
    "28bf4e5e4e758a4164004e56fffa01082e2e00b6d0683e802f0ca9fe6453697a"
)


def rc4(key: bytes, data: bytes) -> bytes:
    state = list(range(256))
    j = 0
    for i in range(256):
        j = (j + state[i] + key[i % len(key)]) % 256
        state[i], state[j] = state[j], state[i]
    i = j = 0
    out = bytearray()
    for byte in data:
        i = (i + 1) % 256
        j = (j + state[i]) % 256
        state[i], state[j] = state[j], state[i]
        out.append(byte ^ state[(state[i] + state[j]) % 256])
    return bytes(out)


def encrypted_pdf(user_password: bytes, owner_password: bytes) -> bytes:
    """A one-page PDF under the standard security handler, revision 2 (40-bit
    RC4); the page holds no strings or streams, so nothing else needs to be
    encrypted."""
    file_id = b"0123456789abcdef"
    permissions = -4
    user = (user_password + _PASSWORD_PADDING)[:32]
    owner = (owner_password + _PASSWORD_PADDING)[:32]
    o_value = rc4(hashlib.md5(owner).digest()[:5], user)
    key = hashlib.md5(
        user + o_value + struct.pack("<i", permissions) + file_id
    ).digest()[:5]
    u_value = rc4(key, _PASSWORD_PADDING)
    encrypt = b"<< /Filter /Standard /V 1 /R 2 /O <%s> /U <%s> /P %d >>" % (
        o_value.hex().encode(),
        u_value.hex().encode(),
        permissions,
    )
    trailer = b"/Encrypt 4 0 R /ID [<%s> <%s>] " % ((file_id.hex().encode(),) * 2)
    return pdf_from_objects([*_PAGE_OBJECTS, encrypt], trailer)


def refusal(data: bytes) -> UploadRefused:
    with pytest.raises(UploadRefused) as caught:
        check_upload(data)
    return caught.value


# Accepted files


def test_a_png_is_accepted_with_its_size_in_pixels() -> None:
    data = image_bytes("PNG", (40, 30))

    checked = check_upload(data)

    assert checked == CheckedFile("image/png", "png", len(data), 1, 40, 30)


def test_a_jpeg_is_accepted_with_its_size_in_pixels() -> None:
    data = image_bytes("JPEG", (41, 29))

    checked = check_upload(data)

    assert checked == CheckedFile("image/jpeg", "jpg", len(data), 1, 41, 29)


def test_a_bmp_is_accepted_with_its_size_in_pixels() -> None:
    data = image_bytes("BMP", (17, 5))

    checked = check_upload(data)

    assert checked == CheckedFile("image/bmp", "bmp", len(data), 1, 17, 5)


def test_a_pdf_is_accepted_with_its_number_of_pages() -> None:
    data = pdf_of_images(pages=3)

    checked = check_upload(data)

    assert checked == CheckedFile("application/pdf", "pdf", len(data), 3, None, None)


def test_a_pdf_header_after_some_junk_within_the_first_kib_is_accepted() -> None:
    data = b"\r\n" * 100 + pdf_of_images()

    checked = check_upload(data)

    assert checked.media_type == "application/pdf"


def test_a_pdf_with_only_an_unencrypted_blank_page_is_accepted() -> None:
    data = pdf_from_objects(_PAGE_OBJECTS)

    checked = check_upload(data)

    assert checked.pages == 1


# Refused types


def test_an_empty_file_is_refused_as_empty() -> None:
    error = refusal(b"")

    assert (error.code, error.status) == ("EMPTY_FILE", 422)


def test_an_upload_refusal_is_a_command_error() -> None:
    error = refusal(b"")

    assert isinstance(error, CommandError)
    assert error.message == "the file is empty"


@pytest.mark.parametrize(
    "data",
    [
        pytest.param(b"MZ" + bytes(1000), id="windows-executable"),
        pytest.param(b"\x7fELF\x02\x01\x01" + bytes(1000), id="elf-executable"),
        pytest.param(image_bytes("GIF"), id="gif"),
        pytest.param(image_bytes("TIFF"), id="tiff"),
        pytest.param(b"Business licence, see attachment", id="text"),
        pytest.param(b"<!DOCTYPE html><html><body>%PDF</body></html>", id="html"),
        pytest.param(b"\x00" * 2048 + b"%PDF-1.4", id="pdf-header-after-1-kib"),
    ],
)
def test_a_file_of_another_type_is_refused_as_unsupported(data: bytes) -> None:
    error = refusal(data)

    assert (error.code, error.status) == ("UNSUPPORTED_FILE", 415)


def test_a_zip_archive_is_refused_as_unsupported() -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("xl/workbook.xml", "<workbook/>")

    error = refusal(buffer.getvalue())

    assert (error.code, error.status) == ("UNSUPPORTED_FILE", 415)


def test_an_executable_carrying_a_pdf_in_its_first_kib_is_refused() -> None:
    data = b"MZ" + bytes(62) + pdf_of_images()

    error = refusal(data)

    assert error.code == "UNSUPPORTED_FILE"


# Size limits


def test_an_image_over_ten_mib_is_refused_before_decoding() -> None:
    data = PNG_MAGIC + bytes(11 * 1024 * 1024)

    error = refusal(data)

    assert (error.code, error.status) == ("FILE_TOO_LARGE", 413)


def test_an_image_of_exactly_ten_mib_passes_the_size_check() -> None:
    data = PNG_MAGIC + bytes(MAX_IMAGE_BYTES - len(PNG_MAGIC))

    error = refusal(data)

    assert error.code == "BROKEN_FILE"


def test_a_pdf_over_twenty_mib_is_refused_before_opening() -> None:
    data = b"%PDF-1.4\n" + bytes(21 * 1024 * 1024)

    error = refusal(data)

    assert (error.code, error.status) == ("FILE_TOO_LARGE", 413)


def test_a_pdf_of_exactly_twenty_mib_passes_the_size_check() -> None:
    data = b"%PDF-1.4\n" + bytes(MAX_PDF_BYTES - 9)

    error = refusal(data)

    assert error.code == "BROKEN_FILE"


# Pixel limits


@pytest.mark.filterwarnings("ignore::PIL.Image.DecompressionBombWarning")
def test_a_decompression_bomb_png_is_refused_without_decoding() -> None:
    data = image_bytes("PNG", (12000, 12000), mode="1")

    error = refusal(data)

    assert len(data) < MAX_IMAGE_BYTES
    assert (error.code, error.status) == ("IMAGE_TOO_LARGE", 422)


def test_an_image_at_the_pixel_limit_is_accepted(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(uploads, "MAX_IMAGE_PIXELS", 40 * 30)

    checked = check_upload(image_bytes("PNG", (40, 30)))

    assert (checked.width, checked.height) == (40, 30)


def test_an_image_one_pixel_over_the_limit_is_refused(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(uploads, "MAX_IMAGE_PIXELS", 40 * 30 - 1)

    error = refusal(image_bytes("PNG", (40, 30)))

    assert error.code == "IMAGE_TOO_LARGE"


def test_pillows_own_decompression_bomb_error_is_refused_as_too_large(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 100)

    error = refusal(image_bytes("PNG", (40, 30)))

    assert error.code == "IMAGE_TOO_LARGE"


@pytest.mark.filterwarnings("error::PIL.Image.DecompressionBombWarning")
def test_pillows_bomb_warning_raised_as_an_error_is_refused_as_too_large(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)

    error = refusal(image_bytes("PNG", (40, 30)))

    assert error.code == "IMAGE_TOO_LARGE"


# Broken files


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "BMP"])
def test_a_truncated_image_is_refused_as_broken(fmt: str) -> None:
    data = image_bytes(fmt, (200, 150))

    error = refusal(data[: len(data) // 2])

    assert (error.code, error.status) == ("BROKEN_FILE", 422)


def test_a_png_with_a_corrupt_chunk_is_refused_as_broken() -> None:
    data = bytearray(image_bytes("PNG", (200, 150)))
    data[40] ^= 0xFF

    error = refusal(bytes(data))

    assert error.code == "BROKEN_FILE"


@pytest.mark.parametrize(
    "data",
    [
        pytest.param(b"\xff\xd8\xff", id="jpeg-magic-only"),
        pytest.param(PNG_MAGIC, id="png-magic-only"),
        pytest.param(b"BM", id="bmp-magic-only"),
        pytest.param(b"%PDF-", id="pdf-magic-only"),
        pytest.param(b"BMW dealer price list", id="text-starting-with-bm"),
    ],
)
def test_a_bare_signature_is_refused_as_broken(data: bytes) -> None:
    error = refusal(data)

    assert error.code == "BROKEN_FILE"


def test_a_truncated_pdf_is_refused_as_broken() -> None:
    data = pdf_of_images()

    error = refusal(data[: len(data) // 2])

    assert (error.code, error.status) == ("BROKEN_FILE", 422)


def test_a_pdf_without_pages_is_refused_as_broken() -> None:
    data = pdf_from_objects(
        [b"<< /Type /Catalog /Pages 2 0 R >>", b"<< /Type /Pages /Kids [] /Count 0 >>"]
    )

    error = refusal(data)

    assert error.code == "BROKEN_FILE"


def test_a_pdf_whose_page_is_missing_is_refused_as_broken() -> None:
    data = pdf_from_objects(
        [
            b"<< /Type /Catalog /Pages 2 0 R >>",
            b"<< /Type /Pages /Kids [9 0 R] /Count 1 >>",
        ]
    )

    error = refusal(data)

    assert error.code == "BROKEN_FILE"


def test_a_pdf_at_the_page_limit_is_accepted(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(uploads, "MAX_PDF_PAGES", 3)

    checked = check_upload(pdf_of_images(pages=3))

    assert checked.pages == 3


def test_a_pdf_over_the_page_limit_is_refused_as_broken(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(uploads, "MAX_PDF_PAGES", 2)

    error = refusal(pdf_of_images(pages=3))

    assert error.code == "BROKEN_FILE"


# Encrypted PDFs


def test_a_pdf_that_needs_a_password_is_refused_as_encrypted() -> None:
    data = encrypted_pdf(user_password=b"secret", owner_password=b"owner")

    error = refusal(data)

    assert (error.code, error.status) == ("ENCRYPTED_PDF", 422)


def test_a_pdf_encrypted_with_only_an_owner_password_is_refused_as_encrypted() -> None:
    data = encrypted_pdf(user_password=b"", owner_password=b"owner")

    error = refusal(data)

    assert (error.code, error.status) == ("ENCRYPTED_PDF", 422)


# Any bytes at all


_VALID_FILES = [
    image_bytes("PNG", (64, 48)),
    image_bytes("JPEG", (64, 48)),
    image_bytes("BMP", (16, 12)),
    pdf_of_images(pages=2),
]
_SIGNATURES = [b"", b"\xff\xd8\xff", PNG_MAGIC, b"BM", b"%PDF-1.7\n", b"MZ"]


def _judge(data: bytes) -> None:
    try:
        result = check_upload(data)
    except UploadRefused as error:
        assert error.status in (413, 415, 422)
    else:
        assert isinstance(result, CheckedFile)
        assert result.size == len(data)


@settings(max_examples=300, deadline=None)
@given(prefix=st.sampled_from(_SIGNATURES), rest=st.binary(max_size=4096))
def test_any_bytes_give_a_checked_file_or_a_refusal(prefix: bytes, rest: bytes) -> None:
    _judge(prefix + rest)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    original=st.sampled_from(_VALID_FILES),
    flips=st.lists(
        st.tuples(st.floats(0, 1, exclude_max=True), st.integers(1, 255)),
        max_size=8,
    ),
    keep=st.floats(0, 1),
)
def test_a_damaged_valid_file_gives_a_checked_file_or_a_refusal(
    original: bytes, flips: list[tuple[float, int]], keep: float
) -> None:
    data = bytearray(original)
    for where, mask in flips:
        data[int(where * len(data))] ^= mask
    damaged = bytes(data[: max(1, round(keep * len(data)))])

    _judge(damaged)
