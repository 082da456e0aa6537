"""The Teams adapter on the Microsoft 365 Agents SDK: `mount(app, runtime)` adds POST /api/messages."""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiohttp import web

from . import app as _app

if TYPE_CHECKING:
    from adapters.runtime import Runtime


def mount(app: web.Application, runtime: Runtime) -> None:
    _app.TeamsBot(runtime, _app.TIMING).mount(app)
