"""``shouying bench --ocr``: how well and how fast the OCR service reads the
project's own evaluation set, beside a bare Tesseract call on the same images
in the same run.

What is measured
    field_exact_match
        Over every ground-truth field of every sample, the share whose
        recognised value equals the truth exactly (after the service's own
        normalisation: ISO dates, ``long-term``), on clean 300-dpi renders and
        on degraded ones (rotation up to 3 degrees, blur, noise, uneven light,
        JPEG artefacts, lower resolution).
    type_accuracy
        The share of samples whose kind is recognised correctly.
    seconds_per_image
        Wall time of ``Recogniser.recognise`` per file (decoding,
        pre-processing, recognition, classification, fields), one worker, one
        file at a time; A4 pages and ID cards apart.
    bare_seconds_per_image
        On the same files in the same run, interleaved: decode with Pillow,
        then one reused ``PyTessBaseAPI`` (same language data) ``SetImage`` and
        ``GetUTF8Text`` at the image's own resolution: the least Tesseract
        must do to read the page.

Goals (from the issue) are reported with ``met`` flags: field exact match
>= 97 % clean and >= 90 % degraded, type accuracy >= 98 %, time per A4 page
<= 1 s and <= 1.2 x the bare call.
"""

from __future__ import annotations

import argparse
import io
import json
import statistics
import sys
from time import perf_counter
from typing import Any

import tesserocr
from PIL import Image

from ocr_service.engine import EngineSettings, find_tessdata
from ocr_service.errors import OcrError
from ocr_service.samples import KINDS, Sample, generate
from ocr_service.service import Recogniser

__all__ = ["main"]


def _parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="shouying bench --ocr")
    parser.add_argument("--per-kind", type=int, default=3, help="samples per kind")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--lang", default=EngineSettings().lang)
    parser.add_argument("--verbose", action="store_true", help="list misreadings")
    parser.add_argument(
        "--no-shape-check",
        action="store_true",
        help="leave doubtful characters as Tesseract read them",
    )
    return parser.parse_args(argv[1:] if argv[:1] == ["--"] else argv)


def _bare(api: tesserocr.PyTessBaseAPI, data: bytes) -> float:
    started = perf_counter()
    image = Image.open(io.BytesIO(data)).convert("L")
    api.SetImage(image)
    api.GetUTF8Text()
    return perf_counter() - started


def _evaluate(
    recogniser: Recogniser,
    api: tesserocr.PyTessBaseAPI,
    samples: list[Sample],
    verbose: bool,
) -> dict[str, Any]:
    fields = matched = typed = 0
    ours: dict[str, list[float]] = {"a4": [], "id_card": []}
    bare: dict[str, list[float]] = {"a4": [], "id_card": []}
    errors: list[str] = []
    for sample in samples:
        data = sample.encode("JPEG" if sample.degraded else "PNG")
        group = "id_card" if sample.kind.startswith("id_card") else "a4"
        bare[group].append(_bare(api, data))
        started = perf_counter()
        try:
            result = recogniser.recognise(data)
        except OcrError as e:
            errors.append(f"{sample.name}: {e.code}")
            result = {"type": "error", "fields": {}}
        ours[group].append(perf_counter() - started)
        typed += result["type"] == sample.kind
        for key, truth in sample.truth.items():
            got = result["fields"].get(key, {}).get("value")
            fields += 1
            matched += got == truth
            if verbose and got != truth:
                print(f"{sample.name} {key}: {truth!r} read {got!r}", file=sys.stderr)
    return {
        "samples": len(samples),
        "fields": fields,
        "field_exact_match": round(matched / fields, 4) if fields else None,
        "type_accuracy": round(typed / len(samples), 4) if samples else None,
        "seconds_per_image": {g: _mean(v) for g, v in ours.items()},
        "bare_seconds_per_image": {g: _mean(v) for g, v in bare.items()},
        "errors": errors,
    }


def _mean(values: list[float]) -> float | None:
    return round(statistics.fmean(values), 3) if values else None


def main(argv: list[str]) -> int:
    """Run the OCR bench and print one JSON object; 0 whether or not the goals
    are met (the ``met`` flags say), 2 if the engine cannot start."""
    args = _parse(argv)
    settings = EngineSettings(lang=args.lang, check_shapes=not args.no_shape_check)
    try:
        tessdata = find_tessdata(args.lang)
        recogniser = Recogniser(workers=1, settings=settings)
    except OcrError as e:
        print(json.dumps({"error": e.as_dict()}), file=sys.stdout)
        return 2
    clean = generate(args.seed, args.per_kind)
    degraded = generate(args.seed, args.per_kind, degraded=True)
    with recogniser, tesserocr.PyTessBaseAPI(path=tessdata, lang=args.lang) as api:
        # Warm both sides up: engine creation is not part of a file's time.
        recogniser.recognise(clean[0].encode("PNG"))
        _bare(api, clean[0].encode("PNG"))
        results = {
            "clean": _evaluate(recogniser, api, clean, args.verbose),
            "degraded": _evaluate(recogniser, api, degraded, args.verbose),
        }
    a4 = [results[s]["seconds_per_image"]["a4"] for s in results]
    a4_bare = [results[s]["bare_seconds_per_image"]["a4"] for s in results]
    a4_ours = statistics.fmean(x for x in a4 if x is not None)
    a4_base = statistics.fmean(x for x in a4_bare if x is not None)
    type_accuracy = statistics.fmean(
        results[s]["type_accuracy"] or 0.0 for s in results
    )
    report = {
        "lang": args.lang,
        "kinds": list(KINDS),
        "per_kind": args.per_kind,
        "seed": args.seed,
        **results,
        "a4_seconds_per_page": round(a4_ours, 3),
        "a4_bare_seconds_per_page": round(a4_base, 3),
        "a4_ratio_to_bare": round(a4_ours / a4_base, 3),
        "goals": {
            "field_exact_match_clean_0.97": {
                "value": results["clean"]["field_exact_match"],
                "met": (results["clean"]["field_exact_match"] or 0) >= 0.97,
            },
            "field_exact_match_degraded_0.90": {
                "value": results["degraded"]["field_exact_match"],
                "met": (results["degraded"]["field_exact_match"] or 0) >= 0.90,
            },
            "type_accuracy_0.98": {
                "value": round(type_accuracy, 4),
                "met": type_accuracy >= 0.98,
            },
            "a4_page_1s": {"value": round(a4_ours, 3), "met": a4_ours <= 1.0},
            "a4_ratio_to_bare_1.2": {
                "value": round(a4_ours / a4_base, 3),
                "met": a4_ours <= 1.2 * a4_base,
            },
        },
    }
    print(json.dumps(report, ensure_ascii=False, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
