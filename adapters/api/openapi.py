"""GET /api/openapi.json: an OpenAPI 3.1 document generated from the pydantic models the routes use."""

from __future__ import annotations

import copy
from functools import cache
from typing import Any

from aiohttp import web
from pydantic import BaseModel
from pydantic.json_schema import JsonSchemaMode, models_json_schema

from bot.flows.model import Flow

from . import flow_routes
from .bodies import DraftDeltaOut, DraftDone, ErrorBody, MessageDeltaOut, TurnCutOut
from .psa_routes import PsaConnectionIn, PsaConnectionList, PsaConnectionOut, PsaReachOut
from .schemas import (
    DraftIn,
    EscalateIn,
    HandoffResult,
    ListQuery,
    MessageIn,
    RatingIn,
    ResolveIn,
    SessionDetail,
    SessionPage,
    StartSessionIn,
    TriagePatchIn,
    TurnResponse,
)

REQUESTS: tuple[type[BaseModel], ...] = (
    StartSessionIn,
    MessageIn,
    TriagePatchIn,
    DraftIn,
    ResolveIn,
    EscalateIn,
    RatingIn,
    PsaConnectionIn,
)
RESPONSES: tuple[type[BaseModel], ...] = (
    SessionPage,
    SessionDetail,
    TurnResponse,
    HandoffResult,
    DraftDeltaOut,
    DraftDone,
    MessageDeltaOut,
    TurnCutOut,
    ErrorBody,
    PsaConnectionList,
    PsaConnectionOut,
    PsaReachOut,
)

_ERRORS = {
    400: "The body is not valid JSON.",
    401: "No token, or one this server does not accept.",
    403: "The session belongs to another account than the token's.",
    404: "No session with that id (or the id is not a UUID).",
    409: "Not allowed in the session's current state (e.g. resolving a resolved session).",
    413: "The body is too large.",
    422: "The input is invalid; `error.fields` lists each problem.",
    502: "Claude failed (or the PSA refused FlowPilot); nothing was lost and `error.retry` says how to retry.",
    504: "The PSA did not answer in time.",
    503: "The session is busy or FlowPilot is restarting; retry after `Retry-After` seconds.",
}
_CONNECTION_ID = {
    "name": "connection_id",
    "in": "path",
    "required": True,
    "schema": {"type": "string", "format": "uuid"},
}
_SESSION_ID = {
    "name": "session_id",
    "in": "path",
    "required": True,
    "schema": {"type": "string", "format": "uuid"},
}


def _not_null(schema: dict[str, Any]) -> dict[str, Any]:
    """Query parameters cannot be null: keep the non-null branch of an optional field."""
    options = [s for s in schema.get("anyOf", []) if s.get("type") != "null"]
    if len(options) == 1:
        rest = {k: v for k, v in schema.items() if k not in ("anyOf", "default")}
        return {**options[0], **rest}
    return {k: v for k, v in schema.items() if k != "default"}


def _query_parameters() -> list[dict[str, Any]]:
    schema = ListQuery.model_json_schema()
    params = []
    for name, prop in schema["properties"].items():
        prop = copy.deepcopy(prop)
        description = prop.pop("description", None)
        prop.pop("title", None)
        param: dict[str, Any] = {"name": name, "in": "query", "required": False, "schema": _not_null(prop)}
        if description:
            param["description"] = description
        if name == "status":
            param |= {"style": "form", "explode": True}
        params.append(param)
    return params


@cache
def document() -> dict[str, Any]:
    pairs: list[tuple[type[BaseModel], JsonSchemaMode]] = [(m, "validation") for m in REQUESTS]
    pairs += [(m, "serialization") for m in RESPONSES]
    pairs += [(m, "validation") for m in flow_routes.REQUESTS] + [
        (m, "serialization") for m in flow_routes.RESPONSES
    ]
    refs, top = models_json_schema(pairs, ref_template="#/components/schemas/{model}")
    schemas = top.get("$defs", {})

    def ref(model: type[BaseModel], mode: JsonSchemaMode) -> dict[str, Any]:
        return refs[(model, mode)]

    def error(status: int) -> dict[str, Any]:
        response: dict[str, Any] = {
            "description": _ERRORS[status],
            "content": {"application/json": {"schema": ref(ErrorBody, "serialization")}},
        }
        if status == 401:
            response["headers"] = {"WWW-Authenticate": {"schema": {"type": "string"}}}
        if status == 503:
            response["headers"] = {"Retry-After": {"schema": {"type": "string"}}}
        return response

    def op(
        summary: str,
        *,
        ok: tuple[int, dict[str, Any], str],
        body: type[BaseModel] | None = None,
        body_required: bool = True,
        session: bool = True,
        errors: tuple[int, ...] = (),
        params: list[dict[str, Any]] | None = None,
        description: str | None = None,
    ) -> dict[str, Any]:
        status, content, what = ok
        codes = {401, *errors}
        if session:
            codes |= {403, 404}
        if body is not None:
            codes |= {400, 413, 422}
        operation: dict[str, Any] = {
            "summary": summary,
            "parameters": ([_SESSION_ID] if session else []) + (params or []),
            "responses": {str(status): {"description": what, "content": content}}
            | {str(c): error(c) for c in sorted(codes)},
        }
        if description:
            operation["description"] = description
        if body is not None:
            operation["requestBody"] = {
                "required": body_required,
                "content": {"application/json": {"schema": ref(body, "validation")}},
            }
        return operation

    def json_of(model: type[BaseModel]) -> dict[str, Any]:
        return {"application/json": {"schema": ref(model, "serialization")}}

    detail = json_of(SessionDetail)

    # In OpenAPI 3.1 the schema of an event stream describes one event: {event, data, id?, retry?}.
    def event_stream(*events: tuple[str, dict[str, Any]]) -> dict[str, Any]:
        return {
            "text/event-stream": {
                "schema": {
                    "oneOf": [
                        {
                            "type": "object",
                            "required": ["event", "data"],
                            "properties": {
                                "event": {"const": name},
                                "data": {
                                    "type": "string",
                                    "contentMediaType": "application/json",
                                    "contentSchema": payload,
                                },
                            },
                        }
                        for name, payload in events
                    ]
                }
            }
        }

    error_event = ("error", {"$ref": "#/components/schemas/ErrorInfo"})
    draft_events = event_stream(
        ("delta", ref(DraftDeltaOut, "serialization")), ("done", ref(DraftDone, "serialization")), error_event
    )
    turn_events = event_stream(
        ("delta", ref(MessageDeltaOut, "serialization")),
        ("done", ref(TurnResponse, "serialization")),
        ("cut", ref(TurnCutOut, "serialization")),
        error_event,
    )
    paths = {
        "/api/ai-sessions": {
            "get": op(
                "List the account's sessions, newest first",
                ok=(200, json_of(SessionPage), "A page of sessions"),
                session=False,
                errors=(422,),
                params=_query_parameters(),
            ),
            "post": op(
                "Start a session; answers with Claude's first turn",
                ok=(201, json_of(TurnResponse), "The new session and Claude's first turn"),
                body=StartSessionIn,
                session=False,
                errors=(404, 409, 502, 503),  # 404: the flow named in `flow` is not one this account sees
            ),
        },
        "/api/ai-sessions/{session_id}": {
            "get": op(
                "A session with its triage, steps, handoffs and outputs", ok=(200, detail, "The session")
            ),
        },
        "/api/ai-sessions/{session_id}/triage": {
            "patch": op(
                "Edit the triage header by hand",
                ok=(200, detail, "The session after the edit"),
                body=TriagePatchIn,
                errors=(409, 503),
            ),
        },
        "/api/ai-sessions/{session_id}/messages": {
            "post": op(
                "Take a turn: a message, an answer, a step's outcome, or a retry",
                ok=(
                    200,
                    json_of(TurnResponse) | turn_events,
                    "The session and Claude's answer, if this turn got one; with `Accept: text/event-stream`, "
                    "Server-Sent Events: `delta` {text} while Claude writes, then `done` (the same "
                    "TurnResponse), or `cut` (TurnCutOut) and `error` (ErrorInfo) if Claude failed mid-turn",
                ),
                body=MessageIn,
                errors=(409, 502, 503),
                description=(
                    "Send `Accept: text/event-stream` to see Claude's words as they are written. Errors found "
                    "before Claude is asked are JSON answers with their status; once the stream has begun, a "
                    "failure arrives as an `error` event, after a `cut` event carrying the words already sent "
                    "when there were some (they are not stored; `retry` asks Claude again). The `done` turn's "
                    "message is the whole message: show it in place of the deltas."
                ),
            ),
        },
        "/api/ai-sessions/{session_id}/handoff-draft": {
            "post": op(
                "Draft the resolution or escalation handoff, streamed",
                ok=(
                    200,
                    draft_events,
                    "Server-Sent Events: `delta` {text}, then `done` (DraftDone) or `error` (ErrorInfo)",
                ),
                body=DraftIn,
                errors=(409, 502, 503),
                description=(
                    "Errors found before drafting starts are JSON answers with their status; once the "
                    "stream has begun, a failure arrives as an `error` event. Disconnecting cancels the "
                    "draft and stores nothing."
                ),
            ),
        },
        "/api/ai-sessions/{session_id}/resolve": {
            "post": op(
                "Confirm the resolution and get its outputs",
                ok=(200, json_of(HandoffResult), "The resolved session and its outputs"),
                body=ResolveIn,
                body_required=False,
                errors=(409, 503),
            ),
        },
        "/api/ai-sessions/{session_id}/escalate": {
            "post": op(
                "Escalate to another engineer (or to anyone) and get the handoff's outputs",
                ok=(200, json_of(HandoffResult), "The escalated session and its outputs"),
                body=EscalateIn,
                body_required=False,
                errors=(409, 503),
            ),
        },
        "/api/ai-sessions/{session_id}/rating": {
            "post": op(
                "Rate a resolved or escalated session",
                ok=(200, detail, "The rated session"),
                body=RatingIn,
                errors=(409, 503),
            ),
        },
    }
    paths |= flow_routes.openapi_paths(op, json_of, ref(Flow, "validation"))
    no_content: dict[str, Any] = {}
    paths["/api/psa-connections"] = {
        "get": op("The account's PSA connections (never their secrets)", ok=(200, json_of(PsaConnectionList), "The connections"), session=False),
        "post": op("Connect the account's PSA; `secret` is write-only", ok=(201, json_of(PsaConnectionOut), "The connection"), body=PsaConnectionIn, session=False, errors=(503,)),
    }  # fmt: skip
    paths["/api/psa-connections/{connection_id}"] = {
        "delete": op("Remove a PSA connection", ok=(204, no_content, "Removed"), session=False, errors=(404,), params=[_CONNECTION_ID]),
    }  # fmt: skip
    paths["/api/psa-connections/{connection_id}/test"] = {
        "post": op("Reach the PSA with the stored credentials", ok=(200, json_of(PsaReachOut), "What the PSA showed"), session=False, errors=(404, 502, 503, 504), params=[_CONNECTION_ID]),
    }  # fmt: skip
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "FlowPilot REST API",
            "version": "1",
            "description": "Troubleshooting sessions: start, take turns, edit triage, draft, resolve, escalate.",
        },
        "servers": [{"url": "/"}],
        "security": [{"bearer": []}],
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
    }


async def openapi_json(request: web.Request) -> web.Response:
    """The document itself needs no token: it describes the API, it holds no data."""
    return web.json_response(document())
