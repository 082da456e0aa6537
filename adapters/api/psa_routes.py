"""/api/psa-connections: the token's account's PSA connections, for its administrators.

The secret goes in (write-only) and never comes out: no answer, log line or error carries it. Another
account's connection is answered exactly like a missing one.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Literal

from aiohttp import web
from pydantic import BaseModel, Field

from bot.errors import FlowPilotError
from bot.psa import PSA_KINDS, PsaError
from bot.psa_connections import CONNECTION_NOT_FOUND
from bot.queries import AccountRef

from .errors import STATUS, ApiError, parse
from .routes import Api, endpoint
from .schemas import Text, _In

BODY_LIMIT = 16 * 1024
_Setting = Annotated[Text, Field(max_length=500)] | None


class PsaConnectionIn(_In):
    """A new connection; `secret` is the private key / API secret / client secret (write-only)."""

    kind: Literal["connectwise", "autotask", "halopsa"]
    secret: Annotated[str, Field(min_length=1, max_length=2000, repr=False)]
    url: _Setting = None
    company: _Setting = None
    public_key: _Setting = None
    client_id: _Setting = None
    username: _Setting = None
    integration_code: _Setting = None
    auth_url: _Setting = None
    tenant: _Setting = None
    label: Annotated[Text, Field(max_length=255)] | None = None
    resolved_status: Annotated[Text, Field(max_length=100)] | None = None
    note_visibility: Literal["internal", "public"] = "internal"


class PsaConnectionOut(BaseModel):
    """A connection as its account's administrators see it: never its secret."""

    id: uuid.UUID
    account: str
    kind: str
    label: str
    settings: dict[str, str]
    resolved_status: str | None
    note_visibility: str
    disabled: bool
    created_at: datetime


class PsaConnectionList(BaseModel):
    items: list[PsaConnectionOut]


class PsaReachOut(BaseModel):
    """What the PSA showed with the stored credentials."""

    company: str | None
    boards: list[str]
    statuses: list[str]
    note_types: list[str]
    extra: dict[str, str]


_SETTINGS = (
    "url",
    "company",
    "public_key",
    "client_id",
    "username",
    "integration_code",
    "auth_url",
    "tenant",
)
assert set(PSA_KINDS) == {"connectwise", "autotask", "halopsa"}


def _refused(err: FlowPilotError | PsaError) -> ApiError:
    if isinstance(err, FlowPilotError):
        return ApiError(STATUS.get(err.code, 400), err.code, err.message)
    status = 504 if err.retryable else 502
    return ApiError(
        status, "psa_unavailable" if err.retryable else "psa_refused", err.message, retryable=err.retryable
    )


def _connection_id(request: web.Request) -> uuid.UUID:
    try:
        return uuid.UUID(request.match_info["connection_id"])
    except ValueError:
        raise ApiError(404, "not_found", CONNECTION_NOT_FOUND) from None


@endpoint
async def list_connections(request: web.Request, api: Api, account: AccountRef) -> web.StreamResponse:
    views = await api.runtime.psa.list(platform=account.platform, workspace_id=account.workspace_id)
    page = PsaConnectionList(items=[PsaConnectionOut.model_validate(v.as_json()) for v in views])
    return web.json_response(page.model_dump(mode="json"))


@endpoint
async def add_connection(request: web.Request, api: Api, account: AccountRef) -> web.StreamResponse:
    body = await parse(request, PsaConnectionIn, limit=BODY_LIMIT)
    try:
        view = await api.runtime.psa.add(
            platform=account.platform,
            workspace_id=account.workspace_id,
            kind=body.kind,
            settings={name: getattr(body, name) for name in _SETTINGS},
            secret=body.secret,
            resolved_status=body.resolved_status,
            note_visibility=body.note_visibility,
            label=body.label,
        )
    except FlowPilotError as err:
        raise _refused(err) from None
    return web.json_response(
        PsaConnectionOut.model_validate(view.as_json()).model_dump(mode="json"), status=201
    )


@endpoint
async def remove_connection(request: web.Request, api: Api, account: AccountRef) -> web.StreamResponse:
    connection_id = _connection_id(request)
    try:
        await api.runtime.psa.remove(
            connection_id, platform=account.platform, workspace_id=account.workspace_id
        )
    except FlowPilotError as err:
        raise _refused(err) from None
    return web.Response(status=204)


@endpoint
async def test_connection(request: web.Request, api: Api, account: AccountRef) -> web.StreamResponse:
    connection_id = _connection_id(request)
    try:
        reach = await api.runtime.psa.test(
            connection_id, platform=account.platform, workspace_id=account.workspace_id
        )
    except (FlowPilotError, PsaError) as err:
        raise _refused(err) from None
    out = PsaReachOut(
        company=reach.company,
        boards=list(reach.boards),
        statuses=list(reach.statuses),
        note_types=list(reach.note_types),
        extra=dict(reach.extra),
    )
    return web.json_response(out.model_dump(mode="json"))


def add_routes(app: web.Application) -> None:
    r = app.router
    r.add_get("/api/psa-connections", list_connections)
    r.add_post("/api/psa-connections", add_connection)
    r.add_delete("/api/psa-connections/{connection_id}", remove_connection)
    r.add_post("/api/psa-connections/{connection_id}/test", test_connection)
