"""The organisation view: each enterprise's departments, roles, accounts and
review flows (manual 12), for the settings pages, for choosing a review flow,
and for the directory's receiving departments and persons.

One table of units. Every organisation event carries the whole unit it adds
or changes, so applying it is one upsert or one delete; an enterprise's units
are few (hundreds at most) and are assembled into pages in Python.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

import orjson

from projections.engine import Engine, Projection
from projections.events import EventRecord, iso
from projections.store import Tx

ADMIN_ROLE = "administrator"

_UPSERT = (
    "INSERT INTO {units} (enterprise_id, kind, unit_id, name, body, updated_at,"
    " version) VALUES (%s, %s, %s, %s, %s, %s, %s)"
    " ON CONFLICT (enterprise_id, kind, unit_id) DO UPDATE SET"
    " name = excluded.name, body = excluded.body,"
    " updated_at = excluded.updated_at, version = excluded.version"
)

#: Event type -> (unit kind, id field, fields kept in the body).
_DEFINITIONS: dict[str, tuple[str, str, tuple[str, ...]]] = {
    "Organisation.DepartmentAdded": ("department", "department_id", ()),
    "Organisation.DepartmentRenamed": ("department", "department_id", ()),
    "Organisation.RoleDefined": ("role", "role_id", ("department_id", "permissions")),
    "Organisation.MemberChanged": (
        "member",
        "account_id",
        ("username", "person_name", "role_id", "visible"),
    ),
    "Organisation.FlowDefined": ("flow", "flow_id", ("trigger", "levels")),
}
_REMOVALS: dict[str, tuple[str, str]] = {
    "Organisation.DepartmentRemoved": ("department", "department_id"),
    "Organisation.RoleRemoved": ("role", "role_id"),
    "Organisation.MemberRemoved": ("member", "account_id"),
    "Organisation.FlowRemoved": ("flow", "flow_id"),
}


class OrganisationView(Projection):
    name = "organisation"
    tables: ClassVar[Mapping[str, str]] = {
        "units": (
            "CREATE TABLE {units} ("
            " enterprise_id TEXT NOT NULL,"
            " kind TEXT NOT NULL,"
            " unit_id TEXT NOT NULL,"
            " name TEXT NOT NULL,"
            " body TEXT NOT NULL,"
            " updated_at TEXT NOT NULL,"
            " version INTEGER NOT NULL,"
            " PRIMARY KEY (enterprise_id, kind, unit_id))"
        ),
    }

    def apply(self, tx: Tx, t: Mapping[str, str], event: EventRecord) -> None:
        units = t["units"]
        data = event.data
        kind = event.type
        if kind in _DEFINITIONS:
            unit, key, kept = _DEFINITIONS[kind]
            name = data["username"] if unit == "member" else data["name"]
            body = {f: data[f] for f in kept}
            self._upsert(tx, units, event, unit, data[key], name, body)
        elif kind in _REMOVALS:
            unit, key = _REMOVALS[kind]
            tx.execute(
                f"DELETE FROM {units} WHERE enterprise_id = %s AND kind = %s"
                " AND unit_id = %s",
                (event.enterprise_id, unit, data[key]),
            )
        elif kind == "Organisation.MembersAdded":
            for m in data["members"]:
                body = {
                    f: m[f] for f in ("username", "person_name", "role_id", "visible")
                }
                self._upsert(
                    tx, units, event, "member", m["account_id"], m["username"], body
                )
        elif kind == "Organisation.Opened":
            body = {
                "username": data["admin_username"],
                "person_name": "",
                "role_id": ADMIN_ROLE,
                "visible": False,
            }
            self._upsert(
                tx,
                units,
                event,
                "member",
                data["admin_account_id"],
                data["admin_username"],
                body,
            )

    @staticmethod
    def _upsert(
        tx: Tx,
        table: str,
        event: EventRecord,
        kind: str,
        unit_id: str,
        name: str,
        body: dict[str, Any],
    ) -> None:
        tx.execute(
            _UPSERT.format(units=table),
            (
                event.enterprise_id,
                kind,
                unit_id,
                name,
                orjson.dumps(body).decode(),
                iso(event.timestamp),
                event.originator_version,
            ),
        )


def query_organisation(engine: Engine, tx: Tx, enterprise_id: str) -> dict[str, Any]:
    """An enterprise's departments (with their roles), accounts and review
    flows, each role with the number of accounts holding it and whether a flow
    uses it."""
    t = engine.active_tables(tx, OrganisationView.name)
    rows = tx.all(
        f"SELECT kind, unit_id, name, body, version FROM {t['units']}"
        " WHERE enterprise_id = %s ORDER BY kind, name, unit_id",
        (enterprise_id,),
    )
    by_kind: dict[str, list[dict[str, Any]]] = {
        "department": [],
        "role": [],
        "member": [],
        "flow": [],
    }
    for row in rows:
        item = {"id": row["unit_id"], "name": row["name"], **orjson.loads(row["body"])}
        by_kind[row["kind"]].append(item)
    roles = {r["id"]: r for r in by_kind["role"]}
    departments = {d["id"]: d for d in by_kind["department"]}
    holders: dict[str, int] = {}
    for m in by_kind["member"]:
        holders[m["role_id"]] = holders.get(m["role_id"], 0) + 1
    in_flows = {level["role_id"] for f in by_kind["flow"] for level in f["levels"]}
    return {
        "departments": [
            {
                "department_id": d["id"],
                "name": d["name"],
                "roles": sum(
                    1 for r in roles.values() if r["department_id"] == d["id"]
                ),
            }
            for d in by_kind["department"]
        ],
        "roles": [
            {
                "role_id": r["id"],
                "name": r["name"],
                "department_id": r["department_id"],
                "department": departments.get(r["department_id"], {}).get("name"),
                "permissions": r["permissions"],
                "accounts": holders.get(r["id"], 0),
                "in_review_flow": r["id"] in in_flows,
            }
            for r in by_kind["role"]
        ],
        "accounts": [
            {
                "account_id": m["id"],
                "username": m["username"],
                "person_name": m["person_name"],
                "role_id": m["role_id"],
                "role": _role_name(m["role_id"], roles),
                "department_id": _department_of(m["role_id"], roles),
                "visible": m["visible"],
                "administrator": m["role_id"] == ADMIN_ROLE,
            }
            for m in by_kind["member"]
        ],
        "review_flows": [
            {
                "flow_id": f["id"],
                "name": f["name"],
                "trigger": f["trigger"],
                "levels": [
                    {
                        "level": number,
                        "role_id": level["role_id"],
                        "role": _role_name(level["role_id"], roles),
                        "account_id": level["account_id"],
                        "any_member": level["account_id"] is None,
                    }
                    for number, level in enumerate(f["levels"], start=1)
                ],
            }
            for f in by_kind["flow"]
        ],
    }


def query_receivers(engine: Engine, tx: Tx, enterprise_id: str) -> list[dict[str, Any]]:
    """The departments of an enterprise with the persons in them that chose
    to be shown to senders (是否显示); departments with none are left out."""
    found = query_organisation(engine, tx, enterprise_id)
    names = {d["department_id"]: d["name"] for d in found["departments"]}
    by_department: dict[str, list[dict[str, str]]] = {}
    for account in found["accounts"]:
        department = account["department_id"]
        if not account["visible"] or department is None:
            continue
        by_department.setdefault(department, []).append(
            {"account_id": account["account_id"], "person_name": account["person_name"]}
        )
    return [
        {"department_id": d, "name": names[d], "persons": persons}
        for d, persons in sorted(by_department.items(), key=lambda i: names[i[0]])
        if d in names
    ]


def _role_name(role_id: str, roles: Mapping[str, dict[str, Any]]) -> str | None:
    if role_id == ADMIN_ROLE:
        return "系统管理员"
    role = roles.get(role_id)
    return role["name"] if role else None


def _department_of(role_id: str, roles: Mapping[str, dict[str, Any]]) -> str | None:
    role = roles.get(role_id)
    return role["department_id"] if role else None
