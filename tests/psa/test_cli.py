"""`flowpilot psa add|test|list|remove`, run as the real command: the secret comes from standard input, is
stored only encrypted, and never appears in `list`, in the output or in the logs."""

from __future__ import annotations

import asyncio
import os
import sys
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from fakes.psa.connectwise import FakeConnectWise
from storage.psa import PsaConnection

from .harness import SECRET_KEY


@dataclass(frozen=True)
class Ran:
    code: int
    out: str
    err: str


async def flowpilot(db_url: str, *args: str, stdin: str = "", key: str | None = SECRET_KEY) -> Ran:
    """The `flowpilot` command in a subprocess, on this test's database (the fake PSA answers meanwhile)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FLOWPILOT_", "DATABASE_URL"))}
    env |= {"DATABASE_URL": db_url, "FLOWPILOT_LOG_LEVEL": "DEBUG"}
    if key is not None:
        env["FLOWPILOT_SECRET_KEY"] = key
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "adapters.cli", "psa", *args,
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env=env,
    )  # fmt: skip
    out, err = await asyncio.wait_for(proc.communicate(stdin.encode()), 90)
    assert proc.returncode is not None
    return Ran(proc.returncode, out.decode(), err.decode())


def _add_args(fake: FakeConnectWise, account: str = "slack:T0ACME") -> list[str]:
    return [
        "add", "connectwise", "--account", account, "--url", fake.url, "--company", fake.company,
        "--public-key", fake.public_key, "--client-id", fake.client_id, "--resolved-status", "Resolved",
    ]  # fmt: skip


async def test_add_test_list_remove_with_the_secret_from_standard_input(
    db_url: str, db: async_sessionmaker[AsyncSession], connectwise_fake: FakeConnectWise
) -> None:
    secret = connectwise_fake.private_key
    added = await flowpilot(db_url, *_add_args(connectwise_fake), stdin=secret + "\n")
    assert added.code == 0, added.err
    assert "Added ConnectWise connection" in added.out and "slack:T0ACME" in added.out
    async with db() as s:
        row = (await s.execute(sa.select(PsaConnection))).scalar_one()
    assert secret.encode() not in row.secret_encrypted and secret not in str(row.settings)

    tested = await flowpilot(db_url, "test", "--account", "slack:T0ACME")
    assert tested.code == 0, tested.err
    assert "reached Contoso IT Services" in tested.out
    assert "Service Desk" in tested.out and "Resolved" in tested.out  # a board and a status

    listed = await flowpilot(db_url, "list")
    assert listed.code == 0 and str(row.id) in listed.out and "connectwise" in listed.out
    assert f"public_key={connectwise_fake.public_key}" in listed.out and "resolved→Resolved" in listed.out

    removed = await flowpilot(db_url, "remove", str(row.id))
    assert removed.code == 0 and "Removed ConnectWise connection" in removed.out
    assert "No PSA connections yet" in (await flowpilot(db_url, "list")).out

    for ran in (added, tested, listed, removed):  # DEBUG logs included
        assert secret not in ran.out and secret not in ran.err


async def test_without_a_secret_key_adding_is_refused_with_how_to_make_one(
    db_url: str, db: async_sessionmaker[AsyncSession], connectwise_fake: FakeConnectWise
) -> None:
    ran = await flowpilot(db_url, *_add_args(connectwise_fake), stdin="privSECRET456\n", key=None)
    assert ran.code == 1
    assert "FLOWPILOT_SECRET_KEY is not set" in ran.err and "Fernet.generate_key()" in ran.err
    async with db() as s:
        assert not (await s.execute(sa.select(PsaConnection))).first()


async def test_credentials_the_psa_refuses_fail_the_test_with_the_reason(
    db_url: str, connectwise_fake: FakeConnectWise
) -> None:
    assert (await flowpilot(db_url, *_add_args(connectwise_fake), stdin="not-the-key\n")).code == 0
    tested = await flowpilot(db_url, "test")
    assert tested.code == 1 and "✗ ConnectWise" in tested.out
    assert "not-the-key" not in tested.out + tested.err


async def test_missing_flags_and_an_empty_secret_are_clear_refusals(
    db_url: str, connectwise_fake: FakeConnectWise
) -> None:
    missing = await flowpilot(db_url, "add", "connectwise", "--account", "slack:T1", "--url", connectwise_fake.url,
                              stdin="x\n")  # fmt: skip
    assert missing.code == 1 and "--company" in missing.err and "--public-key" in missing.err
    empty = await flowpilot(db_url, *_add_args(connectwise_fake), stdin="\n")
    assert empty.code == 1 and "standard input" in empty.err
    bad_account = await flowpilot(db_url, *_add_args(connectwise_fake, account="T0ACME"), stdin="x\n")
    assert bad_account.code == 1 and "platform:workspace" in bad_account.err
