"""The seal's look, prepared once and reused for every document.

Decoding the seal PNG, splitting off its alpha channel and deflating both is
the expensive part of drawing a seal, and it is the same for every document
an enterprise seals. :func:`prepare_appearance` does it once, giving a
:class:`SealAppearance` that holds the compressed image data and the content
streams. Sealing a document then only copies those already-encoded bytes
into the document (:meth:`SealAppearance.embed`): one image XObject with its
soft mask per document, however many widgets show it, and one form XObject
per distinct look (the whole seal, or slice *i* of *n* for a cross-page
seal). No fonts are involved: the seal is an image.

The form XObject paints the image with the ``Multiply`` blend mode, as ink
behaves on paper: red over black text stays legible, and a seal scanned on
white paper without transparency does not cover the text with white.
"""

from __future__ import annotations

import io
import zlib
from dataclasses import dataclass, field

from PIL import Image, UnidentifiedImageError
from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.generic import pdf_name
from pyhanko.pdf_utils.writer import BasePdfFileWriter

from signing_service.errors import SealError
from signing_service.pdfobjects import array, dictionary, number, real

__all__ = ["MAX_SEAL_PIXELS", "DocumentSeal", "SealAppearance", "prepare_appearance"]

MAX_SEAL_PIXELS = 800  # longest side; 42 mm at ~480 dpi is plenty for a stamp
_FORM_UNITS = 1000.0  # the form XObject's width; its height follows the aspect


@dataclass(frozen=True)
class SealAppearance:
    """The prepared seal: deflated RGB and alpha planes and their size."""

    width_px: int
    height_px: int
    rgb_deflated: bytes
    alpha_deflated: bytes

    @property
    def form_width(self) -> float:
        return _FORM_UNITS

    @property
    def form_height(self) -> float:
        return _FORM_UNITS * self.height_px / self.width_px

    def embed(self, writer: BasePdfFileWriter) -> DocumentSeal:
        """Put the image into ``writer``'s document; the result makes the
        form XObjects that widgets use as appearances."""
        mask = generic.StreamObject(
            self._image_dict("/DeviceGray"), encoded_data=self.alpha_deflated
        )
        image_dict = self._image_dict("/DeviceRGB")
        image_dict[pdf_name("/SMask")] = writer.add_object(mask)
        image = generic.StreamObject(image_dict, encoded_data=self.rgb_deflated)
        return DocumentSeal(self, writer, writer.add_object(image))

    def _image_dict(self, colour_space: str) -> generic.DictionaryObject:
        return dictionary(
            {
                "/Type": pdf_name("/XObject"),
                "/Subtype": pdf_name("/Image"),
                "/Width": number(self.width_px),
                "/Height": number(self.height_px),
                "/BitsPerComponent": number(8),
                "/ColorSpace": pdf_name(colour_space),
                "/Filter": pdf_name("/FlateDecode"),
            }
        )


@dataclass
class DocumentSeal:
    """The seal image inside one document, with the form XObjects made so
    far (shared by every widget that looks the same)."""

    appearance: SealAppearance
    writer: BasePdfFileWriter
    image: generic.IndirectObject
    _forms: dict[tuple[int, int], generic.IndirectObject] = field(default_factory=dict)

    def whole(self) -> generic.IndirectObject:
        """The form XObject showing the whole seal."""
        return self.slice(0, 1)

    def slice(self, index: int, count: int) -> generic.IndirectObject:
        """The form XObject showing vertical slice ``index`` (0-based, left to
        right) of ``count`` equal slices: the same image, shifted left and
        clipped by the form's bounding box."""
        key = (index, count)
        if key not in self._forms:
            self._forms[key] = self.writer.add_object(self._form(index, count))
        return self._forms[key]

    def _form(self, index: int, count: int) -> generic.StreamObject:
        w = self.appearance.form_width
        h = self.appearance.form_height
        slice_w = w / count
        content = (
            f"q /SealGS gs 0 0 {slice_w:.4f} {h:.4f} re W n "
            f"1 0 0 1 {-index * slice_w:.4f} 0 cm "
            f"{w:.4f} 0 0 {h:.4f} 0 0 cm /Seal Do Q"
        ).encode()
        resources = dictionary(
            {
                "/XObject": dictionary({"/Seal": self.image}),
                "/ExtGState": dictionary(
                    {"/SealGS": dictionary({"/BM": pdf_name("/Multiply")})}
                ),
            }
        )
        form = generic.StreamObject(
            dictionary(
                {
                    "/Type": pdf_name("/XObject"),
                    "/Subtype": pdf_name("/Form"),
                    "/BBox": array([real(0), real(0), real(slice_w), real(h)]),
                    "/Resources": resources,
                }
            ),
            stream_data=content,
        )
        form.compress()  # type: ignore[no-untyped-call]
        return form


def prepare_appearance(seal_png: bytes) -> SealAppearance:
    """Decode the seal image (a PNG with transparency, ideally) and deflate
    its colour and alpha planes, once."""
    try:
        img: Image.Image = Image.open(io.BytesIO(seal_png))
        img.load()
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as e:
        raise SealError("SEAL_IMAGE_INVALID", "the seal image cannot be read") from e
    except Image.DecompressionBombError as e:
        raise SealError("SEAL_IMAGE_INVALID", "the seal image is far too large") from e
    if img.width < 1 or img.height < 1:
        raise SealError("SEAL_IMAGE_INVALID", "the seal image is empty")
    img = img.convert("RGBA")
    if max(img.size) > MAX_SEAL_PIXELS:
        img.thumbnail((MAX_SEAL_PIXELS, MAX_SEAL_PIXELS), Image.Resampling.LANCZOS)
    alpha = img.getchannel("A")
    if alpha.getextrema() == (0, 0):
        raise SealError("SEAL_IMAGE_INVALID", "the seal image is fully transparent")
    return SealAppearance(
        width_px=img.width,
        height_px=img.height,
        rgb_deflated=zlib.compress(img.convert("RGB").tobytes(), 9),
        alpha_deflated=zlib.compress(alpha.tobytes(), 9),
    )
