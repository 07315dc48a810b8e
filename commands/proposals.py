"""From what the OCR service read off an image to what the library proposes
for it: a qualification type among those the record's kind has, and an info
card (manual 9.1, 图文识别). The user confirms or corrects the proposal before
the file is stored; nothing here writes.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aggregates.catalogue import TYPES, Kind

#: OCR document kind -> qualification type.
TYPE_OF: Mapping[str, str] = {
    "business_licence": "business_licence",
    "drug_manufacturing_licence": "drug_manufacturing_licence",
    "drug_distribution_licence": "drug_distribution_licence",
    "device_registration_certificate": "device_registration_certificate",
    "device_distribution_licence": "device_distribution_licence",
    "id_card_front": "id_card",
    "id_card_back": "id_card",
    "power_of_attorney": "power_of_attorney",
    "inspection_report": "inspection_report",
}

#: OCR field -> info-card field. A business licence's term end is the date
#: its validity ends; a registration's number is the certificate's number.
CARD_OF: Mapping[str, str] = {
    "uscc": "uscc",
    "licence_no": "licence_no",
    "approval_no": "licence_no",
    "issuing_authority": "issuing_authority",
    "issued_on": "issued_on",
    "valid_from": "valid_from",
    "valid_until": "valid_until",
    "term_to": "valid_until",
    "person_name": "person_name",
    "id_number": "id_number",
}


def propose(kind: Kind, result: Mapping[str, Any]) -> dict[str, Any]:
    """The proposal for a record of ``kind``: ``qualification_type`` (None
    when the image is of no type the kind has), its confidence, the card with
    each field's confidence, and the base information the image also shows
    (an enterprise's name, a person's name)."""
    read = TYPES.get(TYPE_OF.get(str(result.get("type")), ""))
    qualification_type = read.code if read and kind in read.kinds else None
    fields: Mapping[str, Mapping[str, Any]] = result.get("fields", {})
    card: dict[str, Any] = {}
    for source, target in CARD_OF.items():
        found = fields.get(source)
        if found is None:
            continue
        held = card.get(target)
        if held is None or found.get("confidence", 0) > held["confidence"]:
            card[target] = {
                "value": found.get("value"),
                "confidence": found.get("confidence", 0.0),
            }
    base: dict[str, Any] = {}
    for source, target in (
        ("enterprise_name", "name"),
        ("legal_representative", "legal_representative"),
        ("address", "address"),
        ("person_name", "person_name"),
        ("id_number", "id_number"),
        ("product_name", "product_name"),
        ("holder", "holder"),
    ):
        if source in fields:
            base[target] = fields[source].get("value")
    missing = [name for name in (read.required if read else ()) if name not in card]
    return {
        "qualification_type": qualification_type,
        "confidence": result.get("confidence", 0.0) if qualification_type else 0.0,
        "card": card,
        "base": base,
        "missing": missing,
    }
