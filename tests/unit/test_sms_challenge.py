"""The limits on SMS codes, under a controlled clock (hypothesis)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from itertools import pairwise

import pytest
from hypothesis import given
from hypothesis import strategies as st

from aggregates.sms_challenge import (
    CODE_LIFETIME,
    DAILY_LIMIT,
    RESEND_INTERVAL,
    Purpose,
    SmsChallenge,
    SmsRefused,
)

START = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)


def challenge() -> SmsChallenge:
    return SmsChallenge.start("13800138000", Purpose.LOGIN, enterprise_id="e")


@given(gaps=st.lists(st.integers(min_value=0, max_value=7200), max_size=30))
def test_codes_are_issued_at_most_once_a_minute_and_ten_a_day(
    gaps: list[int],
) -> None:
    sms = challenge()
    now = START
    issued: list[datetime] = []

    for gap in gaps:
        now += timedelta(seconds=gap)
        try:
            sms.issue("h", now)
            issued.append(now)
        except SmsRefused:
            pass

    for earlier, later in pairwise(issued):
        assert later - earlier >= RESEND_INTERVAL
    for moment in issued:
        window = [t for t in issued if moment - timedelta(days=1) < t <= moment]
        assert len(window) <= DAILY_LIMIT


def test_a_code_works_once_and_not_after_five_minutes() -> None:
    used, late = challenge(), challenge()
    used.issue("h", START)
    late.issue("h", START)

    first = used.verify("h", START)
    with pytest.raises(SmsRefused):
        used.verify("h", START)
    with pytest.raises(SmsRefused):
        late.verify("h", START + CODE_LIFETIME)

    assert first


def test_a_new_code_replaces_the_old_one() -> None:
    sms = challenge()
    sms.issue("old", START)
    sms.issue("new", START + RESEND_INTERVAL)

    assert not sms.verify("old", START + RESEND_INTERVAL)
    assert sms.verify("new", START + RESEND_INTERVAL)
