"""The /api/flows routes: the token's account's flows, importing one (YAML or JSON), versions, diagrams.

Every route is scoped to the token's account: it sees its own flows and the shared ones it has not hidden or
replaced; a flow of another account is a 404, as if it did not exist. A flow posted here serves only that
account (shared flows are imported by the operator: `flowpilot flows import`).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import datetime
from typing import Any

from aiohttp import web
from pydantic import BaseModel, Field

from bot.errors import NotFound
from bot.flows.library import Counters, FlowLibrary, FlowSummary, Imported
from bot.flows.mermaid import mermaid
from bot.flows.model import Flow
from bot.flows.validate import validate
from bot.queries import AccountRef

from .bodies import FieldError
from .errors import TOO_LARGE, ApiError
from .routes import Api, endpoint

FLOW_BODY_LIMIT = 256 * 1024
NO_FLOW = "There is no flow with that id or slug."
NOT_TEXT = "The body must be a flow as UTF-8 YAML or JSON."
NO_FLOW_DOC = "No flow with that id or slug among those the token's account sees."
FAULTS = "The flow has {count} fault{s}: {first}"


class CountersOut(BaseModel):
    started: int
    resolved: int
    escalated: int
    left: int
    left_at: dict[str, int] = Field(description="node id → sessions that left the flow there")


class FlowOut(BaseModel):
    id: uuid.UUID
    slug: str
    title: str
    version: int
    version_id: uuid.UUID
    domain: str | None = None
    tags: list[str] = []
    shared: bool | None = Field(default=None, description="true: it serves every account")
    counters: CountersOut | None = None


class FlowList(BaseModel):
    flows: list[FlowOut]


class FlowDetail(FlowOut):
    flow: dict[str, Any] = Field(description="The flow (schema flowpilot.flow/1)")
    source: str = Field(description="The YAML or JSON it was imported from")


class FlowImported(BaseModel):
    flow: FlowOut
    changed: bool = Field(description="false: the current version already had this content")
    warnings: list[str] = Field(
        default_factory=list,
        description="`body:line: …` for each goto_flow naming a flow the library does not hold yet (a "
        "session reaching it goes on with Claude); the flow is imported all the same",
    )


class FlowVisibility(BaseModel):
    flow: str = Field(description="The flow's id or slug, as given")
    hidden: bool = Field(description="true: the account no longer sees it (listing, matching, starting)")


class VersionOut(BaseModel):
    version_id: uuid.UUID
    version: int
    content_hash: str
    created_at: datetime
    counters: CountersOut


class VersionList(BaseModel):
    versions: list[VersionOut]


def _counters(c: Counters) -> CountersOut:
    return CountersOut(
        started=c.started, resolved=c.resolved, escalated=c.escalated, left=c.left, left_at=dict(c.left_at)
    )


def _summary(s: FlowSummary) -> FlowOut:
    return FlowOut(
        id=s.ref.flow_id,
        slug=s.ref.slug,
        title=s.ref.title,
        version=s.ref.version,
        version_id=s.ref.version_id,
        domain=s.domain,
        tags=list(s.tags),
        shared=s.account is None,
        counters=_counters(s.counters),
    )


def _json(model: BaseModel, status: int = 200) -> web.Response:
    return web.json_response(model.model_dump(mode="json"), status=status)


async def _account_id(api: Api, account: AccountRef) -> uuid.UUID:
    found = await api.runtime.flows.account_id(
        platform=account.platform, workspace_id=account.workspace_id, create=True
    )
    assert found is not None
    return found


def _library(api: Api) -> FlowLibrary:
    return api.runtime.flows


@endpoint
async def list_flows(request: web.Request, api: Api, account: AccountRef) -> web.StreamResponse:
    summaries = await _library(api).summaries(account_id=await _account_id(api, account))
    return _json(FlowList(flows=[_summary(s) for s in summaries]))


@endpoint
async def get_flow(request: web.Request, api: Api, account: AccountRef) -> web.StreamResponse:
    try:
        stored = await _library(api).get(
            account_id=await _account_id(api, account), slug_or_id=request.match_info["flow_id"]
        )
    except NotFound:
        raise ApiError(404, "not_found", NO_FLOW) from None
    if request.query.get("format") == "mermaid":
        return web.Response(text=mermaid(stored.flow), content_type="text/plain")
    ref = stored.ref
    detail = FlowDetail(
        id=ref.flow_id,
        slug=ref.slug,
        title=ref.title,
        version=ref.version,
        version_id=ref.version_id,
        domain=stored.flow.domain,
        tags=list(stored.flow.tags),
        flow=stored.flow.model_dump(mode="json", by_alias=True, exclude_none=True),
        source=stored.source,
    )
    return _json(detail)


@endpoint
async def hide_flow(request: web.Request, api: Api, account: AccountRef) -> web.StreamResponse:
    return await _set_hidden(request, api, account, hidden=True)


@endpoint
async def show_flow(request: web.Request, api: Api, account: AccountRef) -> web.StreamResponse:
    return await _set_hidden(request, api, account, hidden=False)


async def _set_hidden(
    request: web.Request, api: Api, account: AccountRef, *, hidden: bool
) -> web.StreamResponse:
    """Hide a flow from the token's account (a starter flow it does not use), or show it again; other
    accounts keep seeing it."""
    flow = request.match_info["flow_id"]
    try:
        await _library(api).set_hidden(
            account_id=await _account_id(api, account), slug_or_id=flow, hidden=hidden
        )
    except NotFound:
        raise ApiError(404, "not_found", NO_FLOW) from None
    return _json(FlowVisibility(flow=flow, hidden=hidden))


@endpoint
async def list_versions(request: web.Request, api: Api, account: AccountRef) -> web.StreamResponse:
    try:
        versions = await _library(api).versions(
            account_id=await _account_id(api, account), slug_or_id=request.match_info["flow_id"]
        )
    except NotFound:
        raise ApiError(404, "not_found", NO_FLOW) from None
    return _json(
        VersionList(
            versions=[
                VersionOut(
                    version_id=v.version_id,
                    version=v.version,
                    content_hash=v.content_hash,
                    created_at=v.created_at,
                    counters=_counters(v.counters),
                )
                for v in versions
            ]
        )
    )


@endpoint
async def post_flow(request: web.Request, api: Api, account: AccountRef) -> web.StreamResponse:
    text = await _read_text(request)
    checked = validate(text, file="body")
    if checked.flow is None:
        raise _faults(checked.faults)
    library, account_id = _library(api), await _account_id(api, account)
    saved: Imported = await library.save(checked.flow, source=text, account_id=account_id, origin="api")
    ref = saved.ref
    out = FlowOut(
        id=ref.flow_id, slug=ref.slug, title=ref.title, version=ref.version, version_id=ref.version_id
    )
    known = {ref.slug for ref in await library.visible(account_id=account_id)}
    warnings = [str(w) for w in checked.unknown_jumps(known)]
    imported = FlowImported(flow=out, changed=saved.changed, warnings=warnings)
    return _json(imported, status=201 if saved.changed else 200)


def _faults(faults: tuple[Any, ...]) -> ApiError:
    fields = [FieldError(loc=["body", f.line], message=str(f), type="flow") for f in faults]
    message = FAULTS.format(count=len(faults), s="" if len(faults) == 1 else "s", first=faults[0])
    return ApiError(422, "bad_input", message, fields=fields)


async def _read_text(request: web.Request) -> str:
    """The body as text: YAML and JSON alike (JSON is read by the YAML reader, so faults have lines)."""
    if request.content_length is not None and request.content_length > FLOW_BODY_LIMIT:
        raise ApiError(413, "too_large", TOO_LARGE.format(limit=FLOW_BODY_LIMIT))
    # Read whole by the body-limit middleware (adapters.limits, 1 MB for this route) before it got here.
    data = await request.read()
    if len(data) > FLOW_BODY_LIMIT:
        raise ApiError(413, "too_large", TOO_LARGE.format(limit=FLOW_BODY_LIMIT))
    try:
        return bytes(data).decode("utf-8")
    except UnicodeDecodeError:
        raise ApiError(422, "bad_input", NOT_TEXT) from None


# ── OpenAPI ──────────────────────────────────────────────────────────────────────────────────────────
RESPONSES: tuple[type[BaseModel], ...] = (FlowList, FlowDetail, FlowImported, FlowVisibility, VersionList)
REQUESTS: tuple[type[BaseModel], ...] = (Flow,)
_FLOW_ID = {
    "name": "flow_id",
    "in": "path",
    "required": True,
    "description": "The flow's id or slug",
    "schema": {"type": "string"},
}


def openapi_paths(
    op: Callable[..., dict[str, Any]], json_of: Callable[[type[BaseModel]], dict[str, Any]], flow_schema: Any
) -> dict[str, Any]:
    """The /api/flows entries of the OpenAPI document, built with openapi.document's helpers."""
    post = op(
        "Import a flow (YAML or JSON): a new version when it changed",
        ok=(201, json_of(FlowImported), "A new version of the flow (200: unchanged, same body)"),
        session=False,
        errors=(413, 422),
    )
    post["responses"]["200"] = {"description": "The flow was unchanged", "content": json_of(FlowImported)}
    post["requestBody"] = {
        "required": True,
        "content": {
            "application/json": {"schema": flow_schema},
            "application/yaml": {"schema": {"type": "string"}},
        },
    }
    mermaid_text = {"text/plain": {"schema": {"type": "string"}}}
    paths = {
        "/api/flows": {
            "get": op(
                "The flows the account sees, with their counters",
                ok=(200, json_of(FlowList), "The flows"),
                session=False,
            ),
            "post": post,
        },
        "/api/flows/{flow_id}": {
            "get": op(
                "A flow's current version (or, with ?format=mermaid, its Mermaid diagram as text)",
                ok=(200, json_of(FlowDetail) | mermaid_text, "The flow"),
                session=False,
                errors=(404,),
                params=[
                    _FLOW_ID,
                    {
                        "name": "format",
                        "in": "query",
                        "required": False,
                        "schema": {"enum": ["json", "mermaid"]},
                    },
                ],
            ),
        },
        "/api/flows/{flow_id}/versions": {
            "get": op(
                "A flow's versions, newest first, each with its counters",
                ok=(200, json_of(VersionList), "The versions"),
                session=False,
                errors=(404,),
                params=[_FLOW_ID],
            ),
        },
    }
    for verb, summary in (
        ("hide", "Hide a flow from the token's account (e.g. a starter flow it does not use)"),
        ("show", "Show a hidden flow to the token's account again"),
    ):
        paths[f"/api/flows/{{flow_id}}/{verb}"] = {
            "post": op(summary, ok=(200, json_of(FlowVisibility), "Done"), session=False, errors=(404,),
                       params=[_FLOW_ID])
        }  # fmt: skip
    for path, verb in (
        ("/api/flows/{flow_id}", "get"), ("/api/flows/{flow_id}/versions", "get"),
        ("/api/flows/{flow_id}/hide", "post"), ("/api/flows/{flow_id}/show", "post"),
    ):  # fmt: skip
        missing = paths[path][verb]["responses"]["404"]
        paths[path][verb]["responses"]["404"] = {**missing, "description": NO_FLOW_DOC}
    return paths
