"""Taking and releasing unique values (see :mod:`aggregates.uniqueness`)."""

from __future__ import annotations

from collections.abc import Callable
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError

from aggregates.errors import DomainError
from aggregates.uniqueness import UniqueClaim, claim_id
from commands.platform import CommandRunner


def current_claim(runner: CommandRunner, kind: str, value: str) -> UniqueClaim | None:
    """The claim on a value while someone holds it."""
    try:
        claim: UniqueClaim = runner.app.repository.get(claim_id(kind, value))
    except AggregateNotFoundError:
        return None
    return None if claim.released else claim


def take_claim(
    runner: CommandRunner,
    kind: str,
    value: str,
    holder: UUID,
    enterprise_id: str,
    refuse: Callable[[], DomainError],
) -> UniqueClaim:
    """A claim on ``value`` for ``holder``, new or taken again after its
    release; ``refuse()`` is raised while someone else holds it."""
    try:
        claim: UniqueClaim = runner.app.repository.get(claim_id(kind, value))
    except AggregateNotFoundError:
        return UniqueClaim.claim(kind, value, holder, enterprise_id)
    if not claim.released:
        raise refuse()
    claim.retake(holder, enterprise_id)
    return claim


def release_claim(runner: CommandRunner, kind: str, value: str) -> UniqueClaim | None:
    claim = current_claim(runner, kind, value)
    if claim is not None:
        claim.release()
    return claim
