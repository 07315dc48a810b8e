"""The session's rules under a controlled clock, with no I/O."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from aggregates.session import Session, SessionRefused

START = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
LIFETIME = timedelta(days=7)


def new_session() -> Session:
    return Session.open(
        account_id="a",
        enterprise_id="e",
        refresh_hash="h0",
        now=START,
        lifetime=LIFETIME,
    )


@given(elapsed=st.timedeltas(min_value=timedelta(0), max_value=timedelta(days=30)))
def test_a_session_lives_exactly_until_its_expiry(elapsed: timedelta) -> None:
    session = new_session()

    live = session.is_live(START + elapsed)

    assert live == (elapsed < LIFETIME)


def test_each_refresh_extends_the_session_from_its_own_time() -> None:
    session = new_session()
    later = START + timedelta(days=6)

    session.refresh("h0", "h1", later, LIFETIME)

    assert session.is_live(START + timedelta(days=12))
    assert not session.is_live(later + LIFETIME)


def test_an_expired_or_closed_session_cannot_be_refreshed() -> None:
    expired, closed = new_session(), new_session()
    closed.close("signed out")

    with pytest.raises(SessionRefused) as too_late:
        expired.refresh("h0", "h1", START + LIFETIME, LIFETIME)
    with pytest.raises(SessionRefused) as signed_out:
        closed.refresh("h0", "h1", START, LIFETIME)

    assert too_late.value.code == "SESSION_EXPIRED"
    assert signed_out.value.code == "SESSION_CLOSED"


def test_closing_twice_records_one_event() -> None:
    session = new_session()

    session.close("signed out")
    session.close("signed out")

    assert [type(e).__name__ for e in session.collect_events()] == ["Opened", "Closed"]
