"""Fake PSAs on free local ports and connectors pointed at them.

A fixture per fake server (`connectwise_fake`, `autotask_fake`, `halopsa_fake`); `connector_for(kind, fake)` (or
the `connect` fixture, which also closes them) for a connector with any settings changed (wrong keys, a zone);
`psa_kind` / `psa_fake` / `psa_connector` for a test that runs once per PSA (all three, by default).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any, cast

import pytest

from adapters.psa.autotask import AutotaskSettings
from adapters.psa.connect import open_connector
from adapters.psa.connectwise import ConnectWiseSettings
from adapters.psa.halopsa import HaloPsaSettings
from bot.psa import PSA_KINDS, PsaConnector, PsaKind
from fakes.psa.autotask import FakeAutotask
from fakes.psa.base import FakePsa
from fakes.psa.connectwise import FakeConnectWise
from fakes.psa.halopsa import FakeHaloPsa

# Short enough that a timeout test waits ~1 s, long enough for a loaded 2-core machine to answer the rest.
TEST_TIMEOUT = 2.0


def settings_for(kind: PsaKind, fake: FakePsa, **changes: Any) -> Any:
    """The settings a connection to `fake` would have, with `changes` applied (e.g. a wrong key)."""
    if kind == "connectwise":
        cw = cast(FakeConnectWise, fake)
        values: dict[str, Any] = {
            "site": cw.url,
            "company": cw.company,
            "public_key": cw.public_key,
            "private_key": cw.private_key,
            "client_id": cw.client_id,
            "timeout": TEST_TIMEOUT,
        }
        values.update(changes)
        return ConnectWiseSettings(**values)
    if kind == "autotask":
        at = cast(FakeAutotask, fake)
        values = {
            "username": at.username,
            "integration_code": at.integration_code,
            "secret": at.secret,
            "lookup_url": f"{at.url}/atservicesrest",  # the zone is found from here, as from webservices.autotask.net
            "timeout": TEST_TIMEOUT,
        }
        values.update(changes)
        return AutotaskSettings(**values)
    if kind == "halopsa":
        halo = cast(FakeHaloPsa, fake)
        values = {
            "url": halo.url,
            "client_id": halo.client_id,
            "client_secret": halo.client_secret,
            "tenant": halo.tenant,
            "timeout": TEST_TIMEOUT,
        }
        values.update(changes)
        return HaloPsaSettings(**values)
    raise AssertionError(f"no settings for {kind}")


def connector_for(kind: PsaKind, fake: FakePsa, **changes: Any) -> PsaConnector:
    """A connector of `kind` reaching `fake`; the caller closes it."""
    return open_connector(settings_for(kind, fake, **changes))


Connect = Callable[..., PsaConnector]


@pytest.fixture
async def connect() -> AsyncIterator[Connect]:
    """connector_for(kind, fake, **changes), each connector closed at the end of the test."""
    made: list[PsaConnector] = []

    def make(kind: PsaKind, fake: FakePsa, **changes: Any) -> PsaConnector:
        made.append(connector_for(kind, fake, **changes))
        return made[-1]

    yield make
    for connector in made:
        await connector.close()


@pytest.fixture
async def connectwise_fake() -> AsyncIterator[FakeConnectWise]:
    async with FakeConnectWise() as fake:
        yield cast(FakeConnectWise, fake)


@pytest.fixture
async def autotask_fake() -> AsyncIterator[FakeAutotask]:
    async with FakeAutotask() as fake:
        yield cast(FakeAutotask, fake)


@pytest.fixture
async def halopsa_fake() -> AsyncIterator[FakeHaloPsa]:
    async with FakeHaloPsa() as fake:
        yield cast(FakeHaloPsa, fake)


@pytest.fixture(params=PSA_KINDS)
def psa_kind(request: pytest.FixtureRequest) -> PsaKind:
    return cast(PsaKind, request.param)


@pytest.fixture
def psa_fake(request: pytest.FixtureRequest, psa_kind: PsaKind) -> FakePsa:
    return cast(FakePsa, request.getfixturevalue(f"{psa_kind}_fake"))


@pytest.fixture
async def psa_connector(psa_kind: PsaKind, psa_fake: FakePsa) -> AsyncIterator[PsaConnector]:
    connector = connector_for(psa_kind, psa_fake)
    yield connector
    await connector.close()
