"""Health, readiness and the state of the views, for operators."""

from __future__ import annotations

import socket
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from read_api.auth import Identity, Public, require
from read_api.http import OrjsonResponse, services

router = APIRouter(tags=["operations"])

#: A view further behind the log than this is reported as not ready.
READY_LAG = 10_000


@router.get("/healthz", dependencies=[Public])
def healthz() -> Response:
    """The process is up."""
    return OrjsonResponse({"status": "ok"})


@router.get("/readyz", dependencies=[Public])
def readyz(request: Request) -> Response:
    """The database answers, Kafka (when configured) accepts connections, and
    no view lags too far behind the event log."""
    found = services(request)
    checks: dict[str, Any] = {}
    ready = True
    try:
        head = found.app.recorder.max_notification_id() or 0
        checks["database"] = "ok"
        lags = {s.view: max(0, head - s.position) for s in found.engine.status()}
        checks["lag"] = lags
        if any(lag > READY_LAG for lag in lags.values()):
            ready = False
    except Exception as e:  # noqa: BLE001 (readiness reports any failure)
        checks["database"] = f"failed: {type(e).__name__}"
        ready = False
    if found.settings.kafka_bootstrap:
        checks["kafka"] = "ok" if _reachable(found.settings.kafka_bootstrap) else "down"
        ready = ready and checks["kafka"] == "ok"
    return OrjsonResponse(
        {"status": "ready" if ready else "not ready", "checks": checks},
        status_code=200 if ready else 503,
    )


def _reachable(bootstrap: str) -> bool:
    for server in bootstrap.split(","):
        host, _, port = server.strip().rpartition(":")
        try:
            with socket.create_connection((host or "127.0.0.1", int(port)), 1.0):
                return True
        except OSError:
            continue
    return False


@router.get("/api/v1/views")
def views(
    request: Request, identity: Identity = Depends(require("views.read"))
) -> Response:
    """Each view's active generation, position and lag behind the log."""
    found = services(request)
    head = found.app.recorder.max_notification_id() or 0
    items = [
        {
            "view": s.view,
            "generation": s.active,
            "building": s.building,
            "position": s.position,
            "lag": max(0, head - s.position),
            "applied": s.applied,
            "updated_at": s.updated_at,
        }
        for s in found.engine.status()
    ]
    return OrjsonResponse({"head": head, "items": items})
