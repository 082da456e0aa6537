"""Fake PSAs on free local ports and connectors pointed at them.

A fixture per fake server (`connectwise_fake`, `autotask_fake`, `halopsa_fake`), `connector_for(kind, fake)` for
a connector with any settings changed (wrong keys, a short timeout), and `psa_kind` / `psa_fake` /
`psa_connector` for a test that runs once per PSA (parametrise `psa_kind`, or use the contract suite's).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any, cast

import pytest

from adapters.psa.autotask import AutotaskConnector, AutotaskSettings
from adapters.psa.connectwise import ConnectWiseConnector, ConnectWiseSettings
from bot.psa import PsaConnector, PsaKind
from fakes.psa.autotask import FakeAutotask
from fakes.psa.base import FakePsa
from fakes.psa.connectwise import FakeConnectWise

# Short enough that a timeout test waits ~1 s, long enough for a loaded 2-core machine to answer the rest.
TEST_TIMEOUT = 2.0
READY_KINDS: tuple[PsaKind, ...] = ("connectwise", "autotask")


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
    raise AssertionError(f"no settings for {kind}")


def connector_for(kind: PsaKind, fake: FakePsa, **changes: Any) -> PsaConnector:
    """A connector of `kind` reaching `fake`; the caller closes it."""
    settings = settings_for(kind, fake, **changes)
    if kind == "connectwise":
        return ConnectWiseConnector(settings)
    if kind == "autotask":
        return AutotaskConnector(settings)
    raise AssertionError(f"no connector for {kind}")


@pytest.fixture
async def connectwise_fake() -> AsyncIterator[FakeConnectWise]:
    async with FakeConnectWise() as fake:
        yield cast(FakeConnectWise, fake)


@pytest.fixture
async def autotask_fake() -> AsyncIterator[FakeAutotask]:
    async with FakeAutotask() as fake:
        yield cast(FakeAutotask, fake)


@pytest.fixture(params=READY_KINDS)
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
