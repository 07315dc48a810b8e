"""Certificates, seal images and seal tasks as aggregates, with no I/O."""

from __future__ import annotations

import pytest

from aggregates.errors import DomainError
from aggregates.signing import (
    CertificateKind,
    Certificates,
    CertificateStatus,
    SealImages,
    SealKind,
    SealTask,
    TaskStatus,
)

TOKEN, CLOUD = CertificateKind.TOKEN, CertificateKind.CLOUD


def refusal(action: object) -> str:
    assert callable(action)
    with pytest.raises(DomainError) as refused:
        action()
    return refused.value.code


def test_a_token_certificate_goes_from_application_to_the_token() -> None:
    book = Certificates.open("e1")

    applied = book.apply_for(TOKEN, mailing_address="广州市天河区某路 1 号")
    book.issue(applied, "0a1b", "2027-12-03")
    issued = book.certificate(applied).status
    book.activate(applied)

    assert issued is CertificateStatus.ISSUED
    assert book.certificate(applied).status is CertificateStatus.ACTIVE
    assert book.certificate(applied).fee_due_fen > 0


def test_a_lost_token_is_revoked_at_once_and_its_replacement_applied_for() -> None:
    book = Certificates.open("e1")
    old = book.apply_for(TOKEN, mailing_address="地址一")
    book.issue(old, "01", "2027-12-03")
    book.activate(old)

    new = book.report_lost(old, "地址二")
    book.issue(new, "02", "2027-12-03")

    assert book.certificate(old).status is CertificateStatus.REVOKED
    assert book.certificate(new).replaces == old
    assert book.certificate(new).mailing_address == "地址二"


def test_the_kind_changes_only_when_no_certificate_is_live() -> None:
    book = Certificates.open("e1")
    token = book.apply_for(TOKEN, mailing_address="地址")

    other_kind = refusal(lambda: book.apply_for(CLOUD, password_hash="h"))
    same_kind = refusal(lambda: book.apply_for(TOKEN, mailing_address="地址"))
    book.cancel(token)
    cloud = book.apply_for(CLOUD, password_hash="h")

    assert other_kind == "CERTIFICATE_KIND_LOCKED"
    assert same_kind == "CERTIFICATE_EXISTS"
    assert book.certificate(cloud).status is CertificateStatus.APPLIED


def test_an_issued_application_cannot_be_cancelled_and_a_cloud_one_is_active() -> None:
    book = Certificates.open("e1")
    cloud = book.apply_for(CLOUD, password_hash="h")
    book.issue(cloud, "03", "2027-12-03")

    assert book.certificate(cloud).status is CertificateStatus.ACTIVE
    assert refusal(lambda: book.cancel(cloud)) == "CERTIFICATE_STATE"
    assert refusal(lambda: book.activate(cloud)) == "CERTIFICATE_STATE"


def test_a_reissue_after_an_information_change_revokes_the_old_one_once_issued() -> (
    None
):
    book = Certificates.open("e1")
    old = book.apply_for(CLOUD, password_hash="h")
    book.issue(old, "04", "2027-12-03")

    new = book.reapply(old)
    still = book.certificate(old).status
    book.issue(new, "05", "2028-12-03")

    assert still is CertificateStatus.ACTIVE
    assert book.certificate(old).status is CertificateStatus.REVOKED
    assert book.active(CLOUD) is not None and book.active(CLOUD).serial == "05"


def test_a_seal_image_is_usable_only_once_approved_and_a_replacement_waits() -> None:
    images = SealImages.open("e1")
    images.upload(SealKind.OFFICIAL, "a" * 64, 300, 300)

    before = refusal(lambda: images.usable(SealKind.OFFICIAL))
    images.review(SealKind.OFFICIAL, "a" * 64, True, None)
    usable = images.usable(SealKind.OFFICIAL).blob
    images.upload(SealKind.OFFICIAL, "b" * 64, 300, 300)

    assert before == "SEAL_IMAGE_NOT_APPROVED"
    assert usable == "a" * 64
    assert (
        refusal(lambda: images.usable(SealKind.OFFICIAL)) == "SEAL_IMAGE_NOT_APPROVED"
    )
    assert (
        refusal(lambda: images.review(SealKind.OFFICIAL, "a" * 64, True, None))
        == "SEAL_IMAGE_REPLACED"
    )


def test_a_failed_file_stops_the_task_and_resuming_retries_only_it() -> None:
    task = SealTask.start(
        enterprise_id="e1",
        certificate_id="c1",
        seal_kind=SealKind.OFFICIAL,
        placements=[],
        files=[("r1", "d1"), ("r1", "d2"), ("r2", "d3")],
    )

    task.sealed("d1")
    task.failed("d2", "TOKEN_NOT_FOUND", "the token was removed")
    failed = task.status
    task.resume()

    assert failed is TaskStatus.SEAL_FAILED
    assert [f.document_id for f in task.pending()] == ["d2", "d3"]
    assert refusal(lambda: task.sealed("d1")) == "SEAL_TASK_STATE"
