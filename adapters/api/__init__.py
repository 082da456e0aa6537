"""The REST API adapter: /api/ai-sessions over HTTP, for web pages, PSA webhooks and scripts."""

from __future__ import annotations

from aiohttp import web

from adapters.runtime import Runtime

from . import flow_routes, psa_routes, routes, sse
from .auth import TokenBook
from .openapi import openapi_json

__all__ = ["mount"]


def mount(app: web.Application, runtime: Runtime) -> None:
    """Add the API routes to `app`; FLOWPILOT_API_TOKENS must be set (the registry checks)."""
    assert runtime.settings.api_tokens is not None
    tokens = TokenBook.parse(runtime.settings.api_tokens.get_secret_value())
    app[routes.API] = routes.Api(runtime=runtime, tokens=tokens)
    r = app.router
    r.add_get("/api/openapi.json", openapi_json)
    r.add_get("/api/ai-sessions", routes.list_sessions)
    r.add_post("/api/ai-sessions", routes.start_session)
    r.add_get("/api/ai-sessions/{session_id}", routes.get_session)
    r.add_patch("/api/ai-sessions/{session_id}/triage", routes.patch_triage)
    r.add_post("/api/ai-sessions/{session_id}/messages", sse.messages)  # JSON, or SSE if asked
    r.add_post("/api/ai-sessions/{session_id}/handoff-draft", sse.draft)
    r.add_post("/api/ai-sessions/{session_id}/resolve", routes.resolve)
    r.add_post("/api/ai-sessions/{session_id}/escalate", routes.escalate)
    r.add_post("/api/ai-sessions/{session_id}/rating", routes.rate)
    r.add_get("/api/flows", flow_routes.list_flows)
    r.add_post("/api/flows", flow_routes.post_flow)
    r.add_get("/api/flows/{flow_id}", flow_routes.get_flow)
    r.add_get("/api/flows/{flow_id}/versions", flow_routes.list_versions)
    r.add_post("/api/flows/{flow_id}/hide", flow_routes.hide_flow)
    r.add_post("/api/flows/{flow_id}/show", flow_routes.show_flow)
    psa_routes.add_routes(app)
