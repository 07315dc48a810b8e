"""Small pure helpers for the benchmarks: percentiles, rates, ratios, and how
they read in a line of text."""

from __future__ import annotations

import math
from collections.abc import Sequence


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q``-th percentile (0-100) of ``values``, interpolating linearly
    between the two nearest ranks (the method NumPy uses by default)."""
    if not values:
        raise ValueError("no values to take a percentile of")
    if not 0 <= q <= 100:
        raise ValueError(f"a percentile lies between 0 and 100, not {q}")
    ordered = sorted(values)
    rank = (len(ordered) - 1) * q / 100
    low = math.floor(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def latency_summary(seconds: Sequence[float]) -> dict[str, float]:
    """Count, mean, median, 99th percentile and maximum of durations given in
    seconds, reported in milliseconds."""
    if not seconds:
        raise ValueError("no durations to summarise")
    return {
        "count": len(seconds),
        "mean_ms": round(1000 * sum(seconds) / len(seconds), 3),
        "p50_ms": round(1000 * percentile(seconds, 50), 3),
        "p99_ms": round(1000 * percentile(seconds, 99), 3),
        "max_ms": round(1000 * max(seconds), 3),
    }


def rate(count: int, seconds: float) -> float:
    """How many per second, rounded to a tenth."""
    if seconds <= 0:
        raise ValueError(f"a rate needs a positive duration, not {seconds}")
    return round(count / seconds, 1)


def ratio(ours: float, baseline: float) -> float | None:
    """``ours / baseline`` to three decimals; None when the baseline is zero."""
    if baseline == 0:
        return None
    return round(ours / baseline, 3)


def format_rate(per_second: float) -> str:
    """``950/s``, ``12.3k/s``, ``1.25M/s``."""
    if per_second >= 1_000_000:
        return f"{per_second / 1_000_000:.2f}M/s"
    if per_second >= 1_000:
        return f"{per_second / 1_000:.1f}k/s"
    return f"{per_second:.0f}/s"


def format_ms(milliseconds: float) -> str:
    """``0.42 ms``, ``12.3 ms``, ``1234 ms``."""
    if milliseconds < 10:
        return f"{milliseconds:.2f} ms"
    if milliseconds < 1000:
        return f"{milliseconds:.1f} ms"
    return f"{milliseconds:.0f} ms"
