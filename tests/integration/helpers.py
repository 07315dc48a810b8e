"""A small driver for the API in tests: an app on given settings, an operator,
and signed-in headers."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from fastapi.testclient import TestClient

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

    def event_count(self) -> int:
        return self.services.app.recorder.max_notification_id() or 0


@contextmanager
def running_api(settings: Settings) -> Iterator[Api]:
    app = create_app(settings)
    with TestClient(app, raise_server_exceptions=False) as client:
        yield Api(client, app.state.services)
