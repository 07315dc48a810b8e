"""Packages and deliveries with no I/O: the manual's limits (hypothesis), the
package's way from composed to sent, and a delivery's one decision."""

from __future__ import annotations

from uuid import UUID

import pytest
from hypothesis import given
from hypothesis import strategies as st

from aggregates.catalogue import Kind
from aggregates.errors import DomainError, InvalidValue
from aggregates.package import (
    MAX_PRODUCTS,
    MAX_RECIPIENTS,
    Delivery,
    DeliveryStatus,
    Item,
    Package,
    Recipient,
    check_contents,
)


def recipients(count: int) -> list[Recipient]:
    return [Recipient(name=f"收件{n}", enterprise_id=f"e{n}") for n in range(count)]


def products(count: int) -> list[Item]:
    return [Item(f"r{n}", Kind.DRUG, (f"d{n}",)) for n in range(count)]


@given(
    st.integers(0, MAX_RECIPIENTS + 20),
    st.integers(0, MAX_PRODUCTS + 10),
    st.integers(0, 2),
)
def test_a_package_is_refused_exactly_beyond_the_manuals_limits(
    people: int, drugs: int, dossiers: int
) -> None:
    items = products(drugs) + [
        Item(f"ent{n}", Kind.ENTERPRISE, ("licence",)) for n in range(dossiers)
    ]
    allowed = 1 <= people <= MAX_RECIPIENTS and drugs <= MAX_PRODUCTS
    allowed = allowed and dossiers <= 1 and bool(items)

    try:
        check_contents(recipients(people), items)
    except InvalidValue as e:
        assert not allowed, e.code
        return
    assert allowed


def test_a_recipient_chosen_twice_is_refused() -> None:
    twice = [Recipient("甲", "e1"), Recipient("甲公司", "e1")]

    with pytest.raises(InvalidValue) as refused:
        check_contents(twice, products(1))

    assert refused.value.code == "DUPLICATE_RECIPIENT"


def sent_package() -> Package:
    package = Package.compose(
        enterprise_id="sender", recipients=recipients(3), items=products(2)
    )
    package.submit(None)
    package.start_sealing("task-1")
    package.sealed()
    package.send()
    return package


def test_a_package_is_sent_only_once_sealed_and_names_a_delivery_per_recipient() -> (
    None
):
    package = Package.compose(
        enterprise_id="sender", recipients=recipients(3), items=products(2)
    )

    with pytest.raises(DomainError) as early:
        package.send()
    package.submit(None)
    package.start_sealing("task-1")
    package.sealed()
    deliveries = package.send()

    assert early.value.code == "PACKAGE_STATE"
    assert len(set(deliveries)) == 3


def delivery() -> Delivery:
    package = sent_package()
    return Delivery.deliver(
        delivery=UUID(package.deliveries[0]),
        sender_id="sender",
        package_id=package.id,
        recipient=Recipient("收件", "e9"),
        records=[],
    )


@pytest.mark.parametrize(
    ("first", "then", "code"),
    [
        ("accept", "reject", "PACKAGE_ALREADY_ACCEPTED"),
        ("reject", "accept", "PACKAGE_ALREADY_REJECTED"),
        ("withdraw", "accept", "PACKAGE_WITHDRAWN"),
        ("accept", "withdraw", "PACKAGE_ACCEPTED"),
    ],
)
def test_a_delivery_takes_one_decision(first: str, then: str, code: str) -> None:
    copy = delivery()
    actions = {
        "accept": lambda: copy.accept({}),
        "reject": lambda: copy.reject("资料不全"),
        "withdraw": copy.withdraw,
    }

    actions[first]()
    with pytest.raises(DomainError) as refused:
        actions[then]()

    assert refused.value.code == code
    assert copy.status is not DeliveryStatus.WAITING


def test_a_withdrawn_package_is_sent_again_to_fresh_copies_or_edited() -> None:
    package = sent_package()
    first = list(package.deliveries)

    package.withdraw()
    again = package.send()
    package.withdraw()
    package.revise(recipients(2), products(1))

    assert set(map(str, again)).isdisjoint(first)
    assert package.status.value == "draft"
    assert len(package.recipients) == 2


def test_a_supplement_goes_to_the_same_recipients_as_a_package_of_its_own() -> None:
    package = sent_package()

    more = package.supplement(products(1))

    assert more.supplements == str(package.id)
    assert [r.key for r in more.recipients] == [r.key for r in package.recipients]
    assert more.status.value == "draft"
