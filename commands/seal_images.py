"""Seal images (manual 12, 印章管理): uploaded by an enterprise as a
transparent PNG, reviewed by a platform operator, and only then usable.

An image is judged by its content: a PNG that decodes whole, with an alpha
channel whose corners are transparent (a seal is stamped over text, so a
white box around it would hide what it seals), of a sensible size.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError
from PIL import Image, UnidentifiedImageError

from aggregates.signing import SealImages, SealKind, seal_images_id
from commands.blobs import BlobStore
from commands.errors import CommandError, NotFound
from commands.platform import Caller, CommandResult, CommandRunner, Outcome

MAX_BYTES = 2 * 1024 * 1024
MIN_SIDE = 100
MAX_SIDE = 3000
_PNG = b"\x89PNG\r\n\x1a\n"


class SealImageRefused(CommandError):
    def __init__(self, message: str, *, code: str, status: int = 422) -> None:
        super().__init__(message)
        self.code = code
        self.status = status


@dataclass(frozen=True)
class CheckedSeal:
    width: int
    height: int


def check_seal_image(data: bytes) -> CheckedSeal:
    if len(data) > MAX_BYTES:
        raise SealImageRefused(
            f"a seal image has at most {MAX_BYTES} bytes",
            code="FILE_TOO_LARGE",
            status=413,
        )
    if not data.startswith(_PNG):
        raise SealImageRefused(
            "a seal image is a PNG with a transparent background",
            code="UNSUPPORTED_FILE",
            status=415,
        )
    try:
        with Image.open(io.BytesIO(data)) as probe:
            width, height = probe.size
            if not (MIN_SIDE <= width <= MAX_SIDE and MIN_SIDE <= height <= MAX_SIDE):
                raise SealImageRefused(
                    f"a seal image is {MIN_SIDE} to {MAX_SIDE} pixels a side, not "
                    f"{width}x{height}",
                    code="SEAL_IMAGE_SIZE",
                )
            probe.load()
            image = probe.convert("RGBA")
    except SealImageRefused:
        raise
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError):
        raise SealImageRefused(
            "the image is damaged and cannot be read", code="BROKEN_FILE"
        ) from None
    corners = [(0, 0), (width - 1, 0), (0, height - 1), (width - 1, height - 1)]
    alpha = image.getchannel("A")
    if any(alpha.getpixel(c) != 0 for c in corners):
        raise SealImageRefused(
            "the seal image needs a transparent background (its corners are not "
            "transparent)",
            code="SEAL_IMAGE_NOT_TRANSPARENT",
        )
    return CheckedSeal(width, height)


class SealImageCommands:
    def __init__(self, runner: CommandRunner, blobs: BlobStore) -> None:
        self.runner = runner
        self.blobs = blobs

    def upload(self, caller: Caller, kind: str, data: bytes) -> CommandResult:
        seal = SealKind(kind)
        checked = check_seal_image(data)
        digest = self.blobs.put(data)

        def work() -> Outcome:
            images = self.images_of(caller.enterprise_id) or SealImages.open(
                caller.enterprise_id
            )
            images.upload(seal, digest, checked.width, checked.height)
            return Outcome([images], {"kind": seal.value, "blob": digest}, images)

        arguments = {"kind": seal.value, "blob": digest}
        return self.runner.run(caller, "upload_seal_image", arguments, work)

    def review(
        self,
        caller: Caller,
        enterprise_id: UUID,
        kind: str,
        blob: str,
        *,
        approved: bool,
        reason: str | None,
    ) -> CommandResult:
        """An operator's verdict on the image with digest ``blob``."""
        seal = SealKind(kind)

        def work() -> Outcome:
            images = self.images_of(str(enterprise_id))
            if images is None:
                raise NotFound(f"no seal images of enterprise {enterprise_id}")
            images.review(seal, blob, approved, reason)
            return Outcome([images], {"kind": seal.value, "blob": blob}, images)

        arguments = {
            "enterprise_id": str(enterprise_id),
            "kind": seal.value,
            "blob": blob,
            "approved": approved,
            "reason": reason,
        }
        return self.runner.run(caller, "review_seal_image", arguments, work)

    def content(self, enterprise_id: str, kind: str) -> bytes:
        images = self.images_of(enterprise_id)
        current = images.images.get(SealKind(kind).value) if images else None
        if current is None:
            raise NotFound(f"no {kind} seal image")
        return self.blobs.get(current.blob)

    def usable(self, enterprise_id: str, kind: SealKind) -> str:
        """The digest of the approved image of ``kind``; refused with
        ``SEAL_IMAGE_NOT_APPROVED`` while there is none."""
        images = self.images_of(enterprise_id) or SealImages.open(enterprise_id)
        return images.usable(kind).blob

    def images_of(self, enterprise_id: str) -> SealImages | None:
        try:
            found: SealImages = self.runner.app.repository.get(
                seal_images_id(enterprise_id)
            )
        except AggregateNotFoundError:
            return None
        return found
