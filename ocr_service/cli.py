"""``shouying ocr FILE [--json]``: read one licence or ID-card file.

Prints the result (with ``--json``, as one JSON object; otherwise one line
per field). A file the service refuses prints ``{"error": {"code": ...,
"message": ...}}`` (or the message) and exits with status 2.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from ocr_service.engine import DEFAULT_LANG, EngineSettings
from ocr_service.errors import OcrError
from ocr_service.service import Recogniser

__all__ = ["main"]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="shouying ocr", description="Read a licence or ID card into its fields."
    )
    parser.add_argument("file", type=Path, help="JPEG, PNG or BMP image, or PDF")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--lang", default=DEFAULT_LANG, help="Tesseract languages")
    parser.add_argument(
        "--tessdata", help="tessdata folder (default: SHOUYING_TESSDATA or Debian's)"
    )
    return parser


def main(argv: list[str]) -> int:
    """Run the command with ``argv`` (without the program name)."""
    args = _parser().parse_args(argv)
    try:
        data = args.file.read_bytes()
    except OSError as e:
        print(f"cannot read {args.file}: {e.strerror}", file=sys.stderr)
        return 2
    settings = EngineSettings(tessdata=args.tessdata, lang=args.lang)
    try:
        with Recogniser(workers=1, settings=settings) as recogniser:
            result = recogniser.recognise(data, args.file.name)
    except OcrError as e:
        if args.json:
            print(json.dumps({"error": e.as_dict()}, ensure_ascii=False))
        else:
            print(f"{e.code}: {e.message}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(result, ensure_ascii=False))
        return 0
    print(f"type: {result['type']} (confidence {result['confidence']:.2f})")
    for key, field in result["fields"].items():
        print(f"{key}: {field['value']}  ({field['confidence']:.2f}, {field['box']})")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
