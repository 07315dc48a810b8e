"""The login guard and captcha tickets, with a controlled clock."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from aggregates.login_guard import WINDOW, CaptchaRequired, LoginGuard
from commands.captcha import Captchas

NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


def test_failures_older_than_the_window_no_longer_count() -> None:
    guard = LoginGuard.start("user")
    for minute in range(3):
        guard.record(succeeded=False, now=NOW + timedelta(minutes=minute))

    due = guard.needs_captcha(NOW + timedelta(minutes=3))
    later = guard.needs_captcha(NOW + WINDOW + timedelta(minutes=1))

    assert due
    assert not later


def test_a_captcha_is_used_once() -> None:
    guard = LoginGuard.start("user")
    for _ in range(3):
        guard.record(succeeded=False, now=NOW)

    guard.admit(NOW, "ticket-1", solved=True)

    with pytest.raises(CaptchaRequired):
        guard.admit(NOW, "ticket-1", solved=True)


def test_a_success_clears_the_failures() -> None:
    guard = LoginGuard.start("user")
    for _ in range(3):
        guard.record(succeeded=False, now=NOW)

    guard.record(succeeded=True, now=NOW)

    assert not guard.needs_captcha(NOW)


def test_a_ticket_checks_its_answer_its_signature_and_its_expiry() -> None:
    captchas, other = Captchas("secret-a"), Captchas("secret-b")
    ticket = captchas.issue("K7PX").captcha_id
    expires = int(ticket.split(".")[1])

    assert captchas.solved(ticket, " k7px ")
    assert not captchas.solved(ticket, "K7PY")
    assert not other.solved(ticket, "K7PX")
    assert not captchas.solved(ticket, "K7PX", now=expires + 1)
    assert not captchas.solved("garbage", "K7PX")
