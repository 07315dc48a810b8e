"""Views rebuilt from the store equal the views built live, and a rebuild never
shows readers a half-built view."""

from __future__ import annotations

import io
import threading
from dataclasses import replace
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest
from eventsourcing.application import AggregateNotFoundError
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from aggregates.errors import DomainError
from aggregates.organisation import Level, Organisation, organisation_id
from commands.errors import CommandError
from commands.organisation import NewAccount
from commands.platform import Caller
from projections.engine import WHOLE_LOG, LogFollower
from read_api.settings import Settings
from read_api.wiring import Services, build
from tests.conftest import fresh_database
from tests.examples import information, registration
from tests.integration.helpers import running_api

pytestmark = pytest.mark.integration

OPERATOR = Caller(account_id="op", enterprise_id="platform", role="operator")
ANONYMOUS = Caller(account_id="anonymous", enterprise_id="", role="anonymous")

# A command is (kind, which enterprise it aims at, a serial for new names).
commands = st.lists(
    st.tuples(
        st.sampled_from(
            [
                "register",
                "register",
                "submit",
                "approve",
                "reject",
                "duplicate",
                "department",
                "role",
                "account",
                "flow",
                "remove_role",
                "record",
                "document",
                "archive",
                "bin",
                "restore",
            ]
        ),
        st.integers(min_value=0, max_value=7),
    ),
    min_size=1,
    max_size=25,
)


def run_commands(found: Services, plan: list[tuple[str, int]]) -> None:
    enterprises: list[tuple[UUID, Caller]] = []
    for serial, (kind, target) in enumerate(plan):
        try:
            if kind in ("register", "duplicate"):
                n = serial if kind == "register" else 0
                body = registration(n)
                result = found.enterprises.register(
                    ANONYMOUS,
                    enterprise_name=body["enterprise_name"],
                    username=body["username"],
                    mobile=body["mobile"],
                    password=body["password"],
                )
                enterprise = UUID(result.ids["enterprise_id"])
                admin = Caller(
                    account_id=result.ids["account_id"],
                    enterprise_id=str(enterprise),
                    role="enterprise_admin",
                )
                enterprises.append((enterprise, admin))
                found.enterprises.record_information(admin, enterprise, information(n))
            elif enterprises:
                chosen, admin = enterprises[target % len(enterprises)]
                if kind in ORGANISATION:
                    change_organisation(found, admin, kind, serial)
                elif kind in LIBRARY:
                    change_library(found, admin, kind, serial)
                elif kind == "submit":
                    found.enterprises.submit(admin, chosen)
                elif kind == "approve":
                    found.enterprises.approve(OPERATOR, chosen)
                else:
                    found.enterprises.reject(OPERATOR, chosen, f"原因{serial}")
        except (DomainError, CommandError):
            pass  # refused commands write nothing, live or rebuilt


ORGANISATION = ("department", "role", "account", "flow", "remove_role")


def change_organisation(found: Services, admin: Caller, kind: str, serial: int) -> None:
    """One change to the organisation of ``admin``'s enterprise, aimed at its
    first department or role."""
    commands = found.organisation
    if kind == "department":
        commands.add_department(admin, f"部门{serial}")
        return
    try:
        organisation: Organisation = found.app.repository.get(
            organisation_id(admin.enterprise_id)
        )
    except AggregateNotFoundError:
        return
    departments, roles = sorted(organisation.departments), sorted(organisation.roles)
    if kind == "role" and departments:
        commands.define_role(
            admin,
            role_id=None,
            name=f"角色{serial}",
            department_id=departments[0],
            permissions=["library.read"],
        )
    elif kind == "account" and roles:
        commands.create_accounts(
            admin, [NewAccount(f"member{serial}", f"员工{serial}", roles[0])]
        )
    elif kind == "flow" and roles:
        commands.define_flow(
            admin,
            flow_id=None,
            name=f"审核{serial}",
            trigger="send",
            levels=[Level(roles[0])],
        )
    elif kind == "remove_role" and roles:
        commands.remove_role(admin, roles[0])


LIBRARY = ("record", "document", "archive", "bin", "restore")


def change_library(found: Services, admin: Caller, kind: str, serial: int) -> None:
    """One change to the library of ``admin``'s enterprise, aimed at its
    latest record."""
    library = found.library
    if kind == "record":
        library.create_record(
            admin,
            "drug",
            {
                "product_name": f"药品{serial}",
                "approval_no": "H1",
                "manufacturer": "厂",
            },
            {},
        )
        return
    catch_up(found)
    with found.views.transaction(write=False) as tx:
        rows = tx.all(
            "SELECT record_id FROM "
            + found.engine.active_tables(tx, "library")["records"]
            + " WHERE enterprise_id = %s ORDER BY created_at DESC",
            (admin.enterprise_id,),
        )
    if not rows:
        return
    record = UUID(rows[0]["record_id"])
    if kind == "document":
        image = io.BytesIO()
        Image.new("RGB", (8, 8), (serial % 256, 0, 0)).save(image, "PNG")
        library.add_document(
            admin,
            record,
            data=image.getvalue(),
            name=f"说明书{serial}.png",
            qualification_type="drug_package_insert",
            card={"valid_until": "2027-01-01"},
        )
    elif kind == "archive":
        library.archive_record(admin, record, serial % 2 == 0)
    elif kind == "bin":
        library.delete_record(admin, record)
    else:
        library.restore_record(admin, record)


def catch_up(found: Services) -> None:
    follower = LogFollower(found.engine, found.app.recorder, found.decoder)
    while follower.step():
        pass


def snapshot(found: Services) -> dict[str, list[dict[str, Any]]]:
    tables: dict[str, list[dict[str, Any]]] = {}
    with found.views.transaction(write=False) as tx:
        for view in found.engine.projections:
            for short, table in found.engine.active_tables(tx, view).items():
                rows = tx.all(f"SELECT * FROM {table}")
                tables[f"{view}.{short}"] = sorted(rows, key=repr)
    return tables


@settings(
    max_examples=12,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(plan=commands)
def test_a_rebuilt_view_equals_the_view_built_live(
    plan: list[tuple[str, int]], tmp_path: Path
) -> None:
    with fresh_database() as url:
        found = build(Settings(data_dir=tmp_path, database_url=url, jwt_secret="x"))
        try:
            run_commands(found, plan)
            catch_up(found)
            live = snapshot(found)

            for view in found.engine.projections:
                found.engine.rebuild(view, found.app.recorder, found.decoder)
            rebuilt = snapshot(found)
        finally:
            found.close()

    assert rebuilt == live


def test_readers_see_the_old_view_until_the_rebuild_switches(
    pg_settings: Settings,
) -> None:
    found = build(replace(pg_settings, pool_size=4))
    try:
        run_commands(found, [("register", 0)] * 40)
        catch_up(found)
        expected = snapshot(found)["enterprises.enterprises"]
        counts: list[int] = []
        stop = threading.Event()

        def read() -> None:
            while not stop.is_set():
                with found.views.transaction(write=False) as tx:
                    table = found.engine.active_tables(tx, "enterprises")
                    row = tx.one(f"SELECT COUNT(*) AS n FROM {table['enterprises']}")
                counts.append(int(row["n"]) if row else -1)

        reader = threading.Thread(target=read)
        reader.start()
        generation = found.engine.rebuild(
            "enterprises", found.app.recorder, found.decoder, batch=20
        )
        stop.set()
        reader.join()

        assert generation == 2
        assert counts and set(counts) == {len(expected)}
        assert snapshot(found)["enterprises.enterprises"] == expected
        assert found.engine.has_reached(
            "enterprises", found.app.recorder.max_notification_id() or 0, WHOLE_LOG
        )
        assert found.engine.prune("enterprises") == [1]
    finally:
        found.close()


def test_an_interrupted_rebuild_resumes_where_it_stopped(pg_settings: Settings) -> None:
    found = build(pg_settings)
    try:
        run_commands(found, [("register", 0)] * 20)
        catch_up(found)
        expected = snapshot(found)
        calls = 0

        def crash_after_two_batches(done: int, total: int) -> None:
            nonlocal calls
            calls += 1
            if calls == 2:
                raise KeyboardInterrupt

        with pytest.raises(KeyboardInterrupt):
            found.engine.rebuild(
                "audit",
                found.app.recorder,
                found.decoder,
                batch=10,
                progress=crash_after_two_batches,
            )
        generation = found.engine.rebuild("audit", found.app.recorder, found.decoder)

        assert generation == 2
        assert snapshot(found) == expected
    finally:
        found.close()


def test_the_api_keeps_answering_from_the_old_view_during_a_rebuild(
    pg_settings: Settings,
) -> None:
    with running_api(pg_settings) as api:
        operator = api.operator()
        for _ in range(25):
            api.register()
        head = api.event_count()
        first = api.client.get(
            f"/api/v1/enterprises?after={head}&limit=200", headers=operator
        )
        expected = first.json()["items"]
        answers: list[tuple[int, int]] = []
        done = threading.Event()

        def rebuild() -> None:
            found = api.services
            found.engine.rebuild(
                "enterprises", found.app.recorder, found.decoder, batch=5
            )
            done.set()

        worker = threading.Thread(target=rebuild)
        worker.start()
        while not done.is_set():
            response = api.client.get("/api/v1/enterprises?limit=200", headers=operator)
            answers.append((response.status_code, len(response.json()["items"])))
        worker.join()
        after = api.client.get("/api/v1/enterprises?limit=200", headers=operator)

    assert len(expected) == 25
    assert answers and set(answers) == {(200, 25)}
    assert after.json()["items"] == expected
