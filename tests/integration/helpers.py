"""A small driver for the API in tests: an app on given settings, an operator,
and signed-in headers."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from fastapi.testclient import TestClient

from aggregates.account import check_mobile
from commands.platform import Caller
from read_api.app import create_app
from read_api.settings import Settings
from read_api.wiring import Services
from tests.examples import information, registration

OPERATOR_PASSWORD = "operator-pass-1"


class Api:
    def __init__(self, client: TestClient, services: Services) -> None:
        self.client = client
        self.services = services

    def operator(self, username: str = "operator1") -> dict[str, str]:
        caller = Caller(account_id="test", enterprise_id="platform", role="operator")
        self.services.accounts.open_operator(caller, username, OPERATOR_PASSWORD)
        return self.sign_in(username, OPERATOR_PASSWORD)

    def sign_in(self, username: str, password: str) -> dict[str, str]:
        response = self.client.post(
            "/api/v1/sessions", json={"username": username, "password": password}
        )
        assert response.status_code == 201, response.text
        return {"Authorization": f"Bearer {response.json()['access_token']}"}

    def register(self, serial: int | None = None, **overrides: str) -> dict[str, Any]:
        """A new enterprise as its administrator leaves it: registered, its
        information recorded and submitted for review."""
        body = registration(serial, **overrides)
        response = self.client.post("/api/v1/accounts", json=body)
        assert response.status_code == 201, response.text
        answer: dict[str, Any] = response.json()
        headers = self.sign_in(body["username"], body["password"])
        enterprise = answer["enterprise_id"]
        recorded = self.client.post(
            f"/api/v1/enterprises/{enterprise}/information",
            json=information(serial),
            headers=headers,
        )
        assert recorded.status_code == 202, recorded.text
        submitted = self.client.post(
            f"/api/v1/enterprises/{enterprise}/submit", headers=headers
        )
        assert submitted.status_code == 202, submitted.text
        answer["position"] = submitted.json()["position"]
        answer["headers"] = headers
        answer["body"] = body
        return answer

    def verified(self, serial: int | None = None) -> dict[str, Any]:
        """A new enterprise the platform has approved."""
        registered = self.register(serial)
        if not hasattr(self, "_operator"):
            self._operator = self.operator(f"verifier{id(self)}")
        approved = self.client.post(
            f"/api/v1/enterprises/{registered['enterprise_id']}/approve",
            headers=self._operator,
        )
        assert approved.status_code == 202, approved.text
        registered["position"] = approved.json()["position"]
        return registered

    def post(
        self, path: str, headers: dict[str, str], body: Any = None, status: int = 202
    ) -> dict[str, Any]:
        """POSTs and checks the status; the answer's JSON."""
        response = self.client.post(path, json=body, headers=headers)
        assert response.status_code == status, response.text
        found: dict[str, Any] = response.json()
        return found

    def role(
        self,
        admin: dict[str, str],
        permissions: list[str],
        name: str | None = None,
        department_id: str | None = None,
    ) -> dict[str, str]:
        """A role granting ``permissions``, in a new department unless one is
        given: its ``role_id`` and ``department_id``."""
        self._serial = getattr(self, "_serial", 0) + 1
        if department_id is None:
            department_id = self.post(
                "/api/v1/organisation/departments",
                admin,
                {"name": f"部门{self._serial}"},
                201,
            )["department_id"]
        role = self.post(
            "/api/v1/organisation/roles",
            admin,
            {
                "name": name or f"角色{self._serial}",
                "department_id": department_id,
                "permissions": permissions,
            },
            201,
        )
        return {"role_id": role["role_id"], "department_id": department_id}

    def sub_account(
        self, admin: dict[str, str], role_id: str, *, visible: bool = True
    ) -> dict[str, Any]:
        """A sub-account holding ``role_id``, signed in with its own password
        (the default one already changed): ``account_id``, ``username``,
        ``password`` and ``headers``."""
        self._serial = getattr(self, "_serial", 0) + 1
        username = f"member{self._serial}_{id(self) % 10_000}"
        created = self.post(
            "/api/v1/organisation/accounts",
            admin,
            {
                "accounts": [
                    {
                        "username": username,
                        "person_name": f"员工{self._serial}",
                        "role_id": role_id,
                        "visible": visible,
                    }
                ]
            },
            201,
        )["accounts"][0]
        first = self.sign_in(username, created["default_password"])
        password = f"own-password-{self._serial}"
        self.post(
            "/api/v1/accounts/me/password",
            first,
            {"old_password": created["default_password"], "new_password": password},
        )
        return {
            "account_id": created["account_id"],
            "username": username,
            "password": password,
            "headers": self.sign_in(username, password),
        }

    def new_mobile_code(self, headers: dict[str, str], mobile: str) -> str:
        """Asks for a code to confirm a new mobile number and reads it from
        the embedded gateway's outbox, as an operator."""
        self.post("/api/v1/accounts/me/mobile/code", headers, {"mobile": mobile})
        if not hasattr(self, "_sms_reader"):
            self._sms_reader = self.operator(f"smsreader{id(self)}")
        outbox = self.client.get(
            "/api/v1/sms-outbox",
            params={"mobile": check_mobile(mobile)},
            headers=self._sms_reader,
        )
        found = re.search(r"\d{6}", outbox.json()["items"][0]["text"])
        assert found is not None
        return found.group(0)

    def event_count(self) -> int:
        return self.services.app.recorder.max_notification_id() or 0


@contextmanager
def running_api(settings: Settings) -> Iterator[Api]:
    app = create_app(settings)
    with TestClient(app, raise_server_exceptions=False) as client:
        yield Api(client, app.state.services)
