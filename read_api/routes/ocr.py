"""Reading a licence or ID-card image into a proposed info card."""

from __future__ import annotations

import asyncio
from pathlib import PurePath

from fastapi import APIRouter, Depends, Request, UploadFile
from fastapi.responses import Response

from read_api.auth import Identity, require
from read_api.http import OrjsonResponse, services

router = APIRouter(prefix="/api/v1/ocr", tags=["ocr"])


def shown_name(filename: str | None) -> str | None:
    """The upload's own name, as messages may show it: no folders, no control
    characters, not overlong. The format is judged by content, never by it."""
    if not filename:
        return None
    name = PurePath(filename.replace("\\", "/")).name
    name = "".join(c for c in name if c.isprintable())
    return name[:100] or None


@router.post("")
async def recognise(
    request: Request,
    file: UploadFile,
    identity: Identity = Depends(require("documents.recognise")),
) -> Response:
    """Proposes the qualification type and the info-card fields of an uploaded
    JPG, PNG, BMP (at most 10 MB) or PDF (at most 20 MB). Recognition runs on
    the OCR worker pool, so the API keeps answering meanwhile."""
    data = await file.read()
    recogniser = services(request).recogniser()
    result = await asyncio.wrap_future(
        recogniser.submit(data, shown_name(file.filename))
    )
    return OrjsonResponse(result)
