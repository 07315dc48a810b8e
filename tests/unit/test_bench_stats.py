"""The benchmark's arithmetic: percentiles, summaries, rates and their text."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bench.stats import (
    format_ms,
    format_rate,
    latency_summary,
    percentile,
    rate,
    ratio,
)

durations = st.lists(
    st.floats(min_value=0, max_value=1e6, allow_nan=False), min_size=1, max_size=200
)


def test_the_median_of_an_odd_count_is_the_middle_value() -> None:
    assert percentile([5.0, 1.0, 3.0], 50) == 3.0


def test_the_median_of_an_even_count_lies_halfway_between_the_middle_two() -> None:
    assert percentile([1.0, 2.0, 3.0, 4.0], 50) == 2.5


def test_percentiles_interpolate_linearly_between_ranks() -> None:
    values = [float(v) for v in range(1, 101)]
    assert percentile(values, 99) == pytest.approx(99.01)
    assert percentile(values, 90) == pytest.approx(90.1)


def test_the_extreme_percentiles_are_the_minimum_and_maximum() -> None:
    values = [7.0, 2.0, 9.0, 4.0]
    assert percentile(values, 0) == 2.0
    assert percentile(values, 100) == 9.0


def test_a_single_value_is_every_percentile_of_itself() -> None:
    assert percentile([0.25], 1) == 0.25
    assert percentile([0.25], 99) == 0.25


@given(durations, st.floats(min_value=0, max_value=100))
def test_a_percentile_never_leaves_the_range_of_the_values(
    values: list[float], q: float
) -> None:
    assert min(values) <= percentile(values, q) <= max(values)


@given(durations)
def test_a_higher_percentile_is_never_smaller(values: list[float]) -> None:
    assert percentile(values, 50) <= percentile(values, 99)


def test_a_percentile_of_nothing_is_refused() -> None:
    with pytest.raises(ValueError, match="no values"):
        percentile([], 50)


@pytest.mark.parametrize("q", [-1, 100.5])
def test_a_percentile_outside_zero_to_a_hundred_is_refused(q: float) -> None:
    with pytest.raises(ValueError, match="between 0 and 100"):
        percentile([1.0], q)


def test_a_latency_summary_reports_milliseconds() -> None:
    summary = latency_summary([0.001, 0.002, 0.003, 0.010])
    assert summary == {
        "count": 4,
        "mean_ms": 4.0,
        "p50_ms": 2.5,
        "p99_ms": pytest.approx(9.79),
        "max_ms": 10.0,
    }


def test_a_latency_summary_of_nothing_is_refused() -> None:
    with pytest.raises(ValueError, match="no durations"):
        latency_summary([])


def test_a_rate_is_the_count_per_second() -> None:
    assert rate(3000, 1.5) == 2000.0


def test_a_rate_over_no_time_is_refused() -> None:
    with pytest.raises(ValueError, match="positive duration"):
        rate(10, 0.0)


def test_a_ratio_divides_ours_by_the_baseline_to_three_decimals() -> None:
    assert ratio(2.0, 3.0) == 0.667


def test_a_ratio_against_a_zero_baseline_is_unknown() -> None:
    assert ratio(5.0, 0.0) is None


@pytest.mark.parametrize(
    ("per_second", "text"),
    [(950.4, "950/s"), (12_345.0, "12.3k/s"), (1_250_000.0, "1.25M/s")],
)
def test_rates_read_in_units_a_person_takes_in_at_a_glance(
    per_second: float, text: str
) -> None:
    assert format_rate(per_second) == text


@pytest.mark.parametrize(
    ("milliseconds", "text"),
    [(0.4213, "0.42 ms"), (12.34, "12.3 ms"), (1234.5, "1234 ms")],
)
def test_durations_keep_about_three_significant_digits(
    milliseconds: float, text: str
) -> None:
    assert format_ms(milliseconds) == text
