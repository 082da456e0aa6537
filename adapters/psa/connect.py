"""One entry for the composition root: the connector for a connection's settings, whichever PSA they are for."""

from __future__ import annotations

import aiohttp

from adapters.psa.autotask import AutotaskConnector, AutotaskSettings
from adapters.psa.connectwise import ConnectWiseConnector, ConnectWiseSettings
from adapters.psa.halopsa import HaloPsaConnector, HaloPsaSettings
from bot.psa import PsaConnector

PsaSettings = ConnectWiseSettings | AutotaskSettings | HaloPsaSettings


def open_connector(settings: PsaSettings, *, session: aiohttp.ClientSession | None = None) -> PsaConnector:
    """The connector for `settings` (checked: a bad URL or company id is a PsaBadRequest); the caller closes it."""
    if isinstance(settings, ConnectWiseSettings):
        return ConnectWiseConnector(settings, session=session)
    if isinstance(settings, AutotaskSettings):
        return AutotaskConnector(settings, session=session)
    return HaloPsaConnector(settings, session=session)
