"""Library records and their files with no I/O: the catalogue's validators,
and a hypothesis state machine over a record's life checking that archived
files block editing and deleting, that the recycle bin gives back what it
took, and that the record read back from its events equals the live one."""

from __future__ import annotations

from datetime import date
from uuid import UUID

import pytest
from eventsourcing.application import Application
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from aggregates.catalogue import (
    LONG_TERM,
    TYPES,
    Kind,
    check_card,
    check_date,
    types_of,
    types_shown,
)
from aggregates.dossier import Dossier, Status
from aggregates.errors import DomainError, InvalidValue
from tests.examples import credit_code

TODAY = date(2026, 12, 3)
DRUG = {
    "product_name": "阿莫西林胶囊",
    "approval_no": "国药准字H1",
    "manufacturer": "某厂",
}


def new_record() -> Dossier:
    return Dossier.open(
        enterprise_id="e1", kind="drug", base=DRUG, custom={}, today=TODAY
    )


def add(record: Dossier, serial: int = 0) -> str:
    return record.add_document(
        qualification_type="drug_package_insert",
        name=f"说明书{serial}.pdf",
        blob="0" * 64,
        media_type="application/pdf",
        size=100,
        pages=1,
        card={},
        today=TODAY,
        # Ids follow the steps, never chance, so that hypothesis can replay.
        document_id=f"doc{serial:04d}",
    )


@pytest.mark.parametrize(
    "typed",
    ["2027-01-31", "2027/1/31", "2027.01.31", "2027年1月31日", "２０２７-01-31"],
)
def test_dates_are_read_in_the_ways_they_are_written(typed: str) -> None:
    assert check_card(TYPES["quality_agreement"], {"valid_until": typed}, TODAY) == {
        "valid_until": "2027-01-31"
    }


@pytest.mark.parametrize("typed", ["2027-02-30", "31/01/2027", "明年", "2027-13-01"])
def test_impossible_dates_are_refused(typed: str) -> None:
    with pytest.raises(InvalidValue) as refused:
        check_date(typed, "card.valid_until")

    assert refused.value.code == "INVALID_DATE"


def test_an_open_ended_validity_is_long_term() -> None:
    card = check_card(
        TYPES["business_licence"],
        {"uscc": credit_code(1), "valid_until": "长期"},
        TODAY,
    )

    assert card["valid_until"] == LONG_TERM


def test_a_card_missing_what_its_type_needs_is_incomplete() -> None:
    with pytest.raises(InvalidValue) as refused:
        check_card(TYPES["business_licence"], {"valid_until": "长期"}, TODAY)

    assert refused.value.code == "INFO_CARD_INCOMPLETE"
    assert refused.value.field == "card.uscc"


@given(st.text(max_size=30))
def test_any_text_in_a_date_field_is_a_date_or_refused(typed: str) -> None:
    try:
        card = check_card(TYPES["other"], {"issued_on": typed}, TODAY)
    except InvalidValue:
        return
    if "issued_on" in card:
        assert date.fromisoformat(card["issued_on"])


class RecordLife(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.record = new_record()
        self.app = Application[UUID]()
        self.serial = 0

    def live(self) -> list[str]:
        return sorted(d.document_id for d in self.record.live_documents())

    def archived(self) -> bool:
        return any(d.archived for d in self.record.live_documents())

    @precondition(lambda self: not self.record.deleted)
    @rule()
    def add_file(self) -> None:
        self.serial += 1
        add(self.record, self.serial)

    @precondition(lambda self: not self.record.deleted)
    @rule(archived=st.booleans())
    def archive(self, archived: bool) -> None:
        self.record.set_archived(archived)

    @precondition(lambda self: not self.record.deleted)
    @rule(name=st.sampled_from(["甲", "乙"]))
    def edit(self, name: str) -> None:
        blocked = self.archived()
        try:
            self.record.edit({**DRUG, "product_name": name}, {}, TODAY)
        except DomainError as e:
            assert blocked and e.code == "RECORD_ARCHIVED"
        else:
            assert not blocked

    @precondition(lambda self: not self.record.deleted)
    @rule()
    def delete_and_restore(self) -> None:
        before = {d.document_id: d for d in self.record.live_documents()}
        blocked = self.archived()
        try:
            self.record.delete()
        except DomainError as e:
            assert blocked and e.code == "RECORD_ARCHIVED"
            return
        assert not blocked
        self.record.restore()
        assert {d.document_id: d for d in self.record.live_documents()} == before

    @precondition(lambda self: self.live())
    @rule(data=st.data())
    def bin_a_file(self, data: st.DataObject) -> None:
        chosen = data.draw(st.sampled_from(self.live()))
        archived = self.record.document(chosen).archived
        try:
            self.record.delete_document(chosen)
        except DomainError as e:
            assert archived and e.code == "DOCUMENT_ARCHIVED"
        else:
            assert chosen not in self.live()

    @precondition(lambda self: any(d.deleted for d in self.record.documents.values()))
    @rule(data=st.data())
    def restore_a_file(self, data: st.DataObject) -> None:
        binned = sorted(
            d.document_id for d in self.record.documents.values() if d.deleted
        )
        chosen = data.draw(st.sampled_from(binned))
        self.record.restore_document(chosen)
        assert chosen in self.live()

    @precondition(lambda self: self.live())
    @rule(data=st.data(), deprecate=st.booleans())
    def change_status(self, data: st.DataObject, deprecate: bool) -> None:
        chosen = data.draw(st.sampled_from(self.live()))
        if deprecate:
            self.record.deprecate(chosen)
        else:
            self.record.undeprecate(chosen)
        expected = Status.DEPRECATED if deprecate else Status.IN_USE
        assert self.record.document(chosen).status is expected

    @invariant()
    def replay_equals_live(self) -> None:
        self.app.save(self.record)
        copy: Dossier = self.app.repository.get(self.record.id)
        assert copy.documents == self.record.documents
        assert (copy.base, copy.deleted) == (self.record.base, self.record.deleted)


TestRecordLife = RecordLife.TestCase
TestRecordLife.settings = settings(
    max_examples=50, stateful_step_count=25, deadline=None
)


def test_an_id_card_on_a_delegate_takes_the_persons_name_and_number() -> None:
    delegate = Dossier.open(
        enterprise_id="e1",
        kind="delegate",
        base={
            "person_name": "张三",
            "id_number": "11010519491231002X",
            "enterprise_name": "某公司",
        },
        custom={},
        today=TODAY,
    )

    document = delegate.add_document(
        qualification_type="id_card",
        name="身份证.jpg",
        blob="1" * 64,
        media_type="image/jpeg",
        size=10,
        pages=1,
        card={"valid_until": "2030-01-01"},
        today=TODAY,
    )

    assert delegate.document(document).card == {
        "person_name": "张三",
        "id_number": "11010519491231002X",
        "valid_until": "2030-01-01",
    }


def test_a_type_of_another_kind_is_refused() -> None:
    record = new_record()

    with pytest.raises(InvalidValue) as refused:
        record.add_document(
            qualification_type="id_card",
            name="x.png",
            blob="0" * 64,
            media_type="image/png",
            size=1,
            pages=1,
            card={},
            today=TODAY,
        )

    assert refused.value.code == "UNKNOWN_QUALIFICATION_TYPE"


def test_a_record_shows_its_templates_types_and_any_type_holding_files() -> None:
    chosen = ["business_licence", "drug_distribution_licence"]

    with_template = types_shown(Kind.ENTERPRISE, chosen, ["quality_agreement"])
    without = types_shown(Kind.ENTERPRISE, None, [])

    assert [t.code for t in with_template] == [
        "business_licence",
        "drug_distribution_licence",
        "quality_agreement",
    ]
    assert {t.code for t in without} == {t.code for t in types_of(Kind.ENTERPRISE)}
