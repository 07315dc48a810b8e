"""An enterprise's departments, roles, sub-accounts (manual 12, 子账户管理)
and review flows (审核设置).

Changing any of them is the administrator's alone (``organisation.manage``,
``review_flows.manage``); reading them is a permission a role may grant.
Commands follow the API's convention: ``POST`` creates, ``PATCH`` edits, and
``POST /{id}/delete`` deletes.
"""

from __future__ import annotations

from typing import Annotated, Literal
from uuid import UUID

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field

from aggregates.organisation import MAX_ACCOUNTS_AT_ONCE, MAX_LEVELS, Level
from aggregates.permissions import CATALOGUE
from commands.organisation import NewAccount
from projections.organisation import OrganisationView, query_organisation
from read_api.auth import IdempotencyKey, Identity, IfMatch, require
from read_api.http import (
    OrjsonResponse,
    answer,
    caller_of,
    services,
    view_answer,
    wait_for_view,
)

router = APIRouter(prefix="/api/v1/organisation", tags=["organisation"])
flows = APIRouter(prefix="/api/v1/review-flows", tags=["review-flows"])

Read = Depends(require("organisation.read"))
Manage = Depends(require("organisation.manage"))
_NAME = Field(min_length=1, max_length=100)
#: A role's id: a UUID, or ``administrator`` for the built-in role.
RoleId = Annotated[str, Path(min_length=1, max_length=40)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class DepartmentBody(Strict):
    name: str = _NAME


class RoleBody(Strict):
    name: str = _NAME
    department_id: str = Field(min_length=1, max_length=40)
    permissions: list[Annotated[str, Field(max_length=60)]] = Field(
        default_factory=list, max_length=100
    )


class NewAccountBody(Strict):
    username: str = Field(min_length=3, max_length=40)
    person_name: str = _NAME
    role_id: str = Field(min_length=1, max_length=40)
    #: Shown to senders choosing this enterprise's receiving person.
    visible: bool = True
    mobile: str | None = Field(default=None, min_length=11, max_length=20)


class NewAccounts(Strict):
    # The bound guards the parser; the domain refuses more than ten with
    # TOO_MANY_ACCOUNTS.
    accounts: list[NewAccountBody] = Field(
        min_length=1, max_length=10 * MAX_ACCOUNTS_AT_ONCE
    )


class AccountChange(Strict):
    person_name: str | None = Field(default=None, min_length=1, max_length=100)
    role_id: str | None = Field(default=None, min_length=1, max_length=40)
    visible: bool | None = None


class LevelBody(Strict):
    role_id: str = Field(min_length=1, max_length=40)
    #: One named reviewer; absent means any member of the role.
    account_id: str | None = Field(default=None, min_length=1, max_length=40)


class FlowBody(Strict):
    name: str = _NAME
    trigger: Literal["send", "accept"]
    # The domain refuses more than five levels with INVALID_REVIEW_FLOW.
    levels: list[LevelBody] = Field(min_length=1, max_length=10 * MAX_LEVELS)


# --- reading ------------------------------------------------------------------


@router.get("")
def organisation(
    request: Request,
    identity: Identity = Read,
    after: Annotated[int | None, Query(ge=0)] = None,
) -> Response:
    """The caller's enterprise's departments, roles (with how many accounts
    hold each and whether a review flow uses it), accounts and review flows."""
    caught_up = wait_for_view(request, OrganisationView.name, after)
    found = services(request)
    with found.views.transaction(write=False) as tx:
        body = query_organisation(found.engine, tx, identity.enterprise_id)
    return view_answer(body, caught_up=caught_up)


@router.get("/permissions")
def permission_catalogue(request: Request, identity: Identity = Read) -> Response:
    """Every permission of the product, grouped, with who may hold it:
    ``assignable`` to roles, the ``administrator``'s alone, or held by
    ``every_account``."""
    return OrjsonResponse(
        {
            "items": [
                {
                    "name": p.name,
                    "group": p.group,
                    "label_zh": p.label_zh,
                    "label_en": p.label_en,
                    "grant": p.grant.value,
                    "needs_verification": p.needs_verification,
                }
                for p in CATALOGUE
            ]
        }
    )


# --- departments --------------------------------------------------------------


@router.post("/departments", status_code=201)
def add_department(
    request: Request,
    body: DepartmentBody,
    identity: Identity = Manage,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    caller = caller_of(request, identity, idempotency_key)
    return answer(services(request).organisation.add_department(caller, body.name))


@router.patch("/departments/{department_id}", status_code=202)
def rename_department(
    request: Request,
    department_id: UUID,
    body: DepartmentBody,
    identity: Identity = Manage,
    idempotency_key: IdempotencyKey = None,
    if_match: IfMatch = None,
) -> Response:
    caller = caller_of(request, identity, idempotency_key, if_match)
    result = services(request).organisation.rename_department(
        caller, department_id, body.name
    )
    return answer(result)


@router.post("/departments/{department_id}/delete", status_code=202)
def delete_department(
    request: Request,
    department_id: UUID,
    identity: Identity = Manage,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    """Deletes a department that has no roles (else ``DEPARTMENT_HAS_ROLES``)."""
    caller = caller_of(request, identity, idempotency_key)
    return answer(
        services(request).organisation.remove_department(caller, department_id)
    )


# --- roles --------------------------------------------------------------------


@router.post("/roles", status_code=201)
def add_role(
    request: Request,
    body: RoleBody,
    identity: Identity = Manage,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    """A role in a department, granting permissions from the catalogue's
    assignable ones."""
    caller = caller_of(request, identity, idempotency_key)
    result = services(request).organisation.define_role(
        caller,
        role_id=None,
        name=body.name,
        department_id=body.department_id,
        permissions=body.permissions,
    )
    return answer(result)


@router.patch("/roles/{role_id}", status_code=202)
def change_role(
    request: Request,
    role_id: RoleId,
    body: RoleBody,
    identity: Identity = Manage,
    idempotency_key: IdempotencyKey = None,
    if_match: IfMatch = None,
) -> Response:
    """Replaces a role's name, department and permissions; its accounts hold
    the new permissions from their next request."""
    caller = caller_of(request, identity, idempotency_key, if_match)
    result = services(request).organisation.define_role(
        caller,
        role_id=role_id,
        name=body.name,
        department_id=body.department_id,
        permissions=body.permissions,
    )
    return answer(result)


@router.post("/roles/{role_id}/delete", status_code=202)
def delete_role(
    request: Request,
    role_id: RoleId,
    identity: Identity = Manage,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    """Deletes a role no account holds (``ROLE_HAS_ACCOUNTS``) and no review
    flow uses (``ROLE_IN_REVIEW_FLOW``)."""
    caller = caller_of(request, identity, idempotency_key)
    return answer(services(request).organisation.remove_role(caller, role_id))


# --- sub-accounts -------------------------------------------------------------


@router.post("/accounts", status_code=201)
def create_accounts(
    request: Request,
    body: NewAccounts,
    identity: Identity = Manage,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    """Creates up to ten sub-accounts, all or none. Each answer carries the
    account's default password, shown this once; it must be changed at first
    sign-in. A repeat with the same ``Idempotency-Key`` answers without the
    passwords (reset one to see a new one)."""
    caller = caller_of(request, identity, idempotency_key)
    created = services(request).organisation.create_accounts(
        caller,
        [
            NewAccount(
                username=a.username,
                person_name=a.person_name,
                role_id=a.role_id,
                visible=a.visible,
                mobile=a.mobile,
            )
            for a in body.accounts
        ],
    )
    response = answer(created.result)
    passwords = created.passwords or {}
    accounts = [
        {**a, "default_password": passwords.get(a["account_id"])}
        for a in created.result.extra["accounts"]
    ]
    return OrjsonResponse(
        {**created.result.body(), "accounts": accounts},
        status_code=response.status_code,
        headers={**dict(response.headers), "Cache-Control": "no-store"},
    )


@router.patch("/accounts/{account_id}", status_code=202)
def change_account(
    request: Request,
    account_id: UUID,
    body: AccountChange,
    identity: Identity = Manage,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    """Changes a sub-account's person name, role or visibility to senders. An
    account a review flow names keeps its role (``ACCOUNT_IN_REVIEW_FLOW``)."""
    caller = caller_of(request, identity, idempotency_key)
    result = services(request).organisation.change_account(
        caller,
        account_id,
        person_name=body.person_name,
        role_id=body.role_id,
        visible=body.visible,
    )
    return answer(result)


@router.post("/accounts/{account_id}/delete", status_code=202)
def delete_account(
    request: Request,
    account_id: UUID,
    identity: Identity = Manage,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    """Deletes a sub-account that no review flow names and that holds no
    review in progress; it is signed out at once."""
    caller = caller_of(request, identity, idempotency_key)
    return answer(services(request).organisation.remove_account(caller, account_id))


@router.post("/accounts/{account_id}/password-reset", status_code=202)
def reset_account_password(
    request: Request, account_id: UUID, identity: Identity = Manage
) -> Response:
    """A new default password for a sub-account, shown once; it must be
    changed at the next sign-in."""
    caller = caller_of(request, identity, None)
    result, password = services(request).organisation.reset_password(caller, account_id)
    return OrjsonResponse(
        {**result.body(), "default_password": password},
        status_code=202,
        headers={"Cache-Control": "no-store", "X-Event-Position": str(result.position)},
    )


# --- review flows -------------------------------------------------------------


@flows.get("")
def list_flows(
    request: Request,
    identity: Identity = Depends(require("review_flows.read")),
    trigger: Literal["send", "accept"] | None = None,
    after: Annotated[int | None, Query(ge=0)] = None,
) -> Response:
    """The enterprise's review flows, for choosing one when submitting or
    accepting a package; none means no review."""
    caught_up = wait_for_view(request, OrganisationView.name, after)
    found = services(request)
    with found.views.transaction(write=False) as tx:
        items = query_organisation(found.engine, tx, identity.enterprise_id)[
            "review_flows"
        ]
    if trigger is not None:
        items = [f for f in items if f["trigger"] == trigger]
    return view_answer({"items": items}, caught_up=caught_up)


ManageFlows = Depends(require("review_flows.manage"))


def _levels(body: FlowBody) -> list[Level]:
    return [Level(level.role_id, level.account_id) for level in body.levels]


@flows.post("", status_code=201)
def add_flow(
    request: Request,
    body: FlowBody,
    identity: Identity = ManageFlows,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    """A review flow of one to five levels, one role per level and no role
    twice; a level is any member of its role or one named account."""
    caller = caller_of(request, identity, idempotency_key)
    result = services(request).organisation.define_flow(
        caller, flow_id=None, name=body.name, trigger=body.trigger, levels=_levels(body)
    )
    return answer(result)


@flows.patch("/{flow_id}", status_code=202)
def change_flow(
    request: Request,
    flow_id: UUID,
    body: FlowBody,
    identity: Identity = ManageFlows,
    idempotency_key: IdempotencyKey = None,
    if_match: IfMatch = None,
) -> Response:
    """Replaces a flow no package is under review with
    (``REVIEW_FLOW_IN_USE``)."""
    caller = caller_of(request, identity, idempotency_key, if_match)
    result = services(request).organisation.define_flow(
        caller,
        flow_id=flow_id,
        name=body.name,
        trigger=body.trigger,
        levels=_levels(body),
    )
    return answer(result)


@flows.post("/{flow_id}/delete", status_code=202)
def delete_flow(
    request: Request,
    flow_id: UUID,
    identity: Identity = ManageFlows,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    caller = caller_of(request, identity, idempotency_key)
    return answer(services(request).organisation.remove_flow(caller, flow_id))
