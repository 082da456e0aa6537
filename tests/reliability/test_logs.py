"""No credential ever appears in a log line, whatever fails: every logger at DEBUG (ours and the libraries'),
in process and in the log file of a real `flowpilot serve` at FLOWPILOT_LOG_LEVEL=DEBUG.

Each credential is distinctive, so finding it (or an obvious piece of it, or its base64) in a formatted
record — message, exception and stack — is a leak and never a coincidence.
"""

from __future__ import annotations

import base64
import html
import logging
import os
import re
import subprocess
import sys
from collections.abc import AsyncIterator, Callable, Iterable, Iterator
from dataclasses import dataclass
from functools import partial
from typing import Any

import aiohttp
import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from adapters.cli import credentials
from bench.harness import ROOT, flowpilot
from bot.redaction import LogMask
from bot.settings import Settings
from fakes.anthropic import FakeAnthropic
from fakes.connector import DEFAULT_BOT_APP_ID, DEFAULT_TENANT_ID, FakeConnector, personal_message
from fakes.slack import FakeSlack, slash_command_body
from tests.conftest import app_settings, running_app
from tests.slack.conftest import ALICE, SlackHarness, action_ids, shown_text, started, wait_for

from .conftest import _DbOnly, serve_env

pytestmark = pytest.mark.filterwarnings("ignore::aiohttp.web_exceptions.NotAppKeyWarning")

BOT_TOKEN = "xoxb-7391046258-5182736450912-Qz7LmN4pR8sT2vW6xY0aB3cD"
SIGNING_SECRET = "8f3a9c1e5b7d2f4a6c8e0b2d4f6a8c1e"
CLAUDE_KEY = "sk-ant-api03-Hq3Zr8Kx2Lm5Np7Qs9Tv1Wx4Yz6Ab0Cd-Ef2Gh4Ij6Kl8Mn0Pq2-Rs4Tu6AA"
API_TOKEN = "fpapi-Vb6Nm1Qw8Er3Ty5Ui7Op9As2Df4Gh6Jk"
WRONG_API_TOKEN = "fpapi-Zx9Cv8Bn7Mm6Ll5Kk4Jj3Hh2Gg1Ff0Dd"  # what a caller guessed: not logged either
TEAMS_SECRET = "Kq8~Zt3Rv.Wy6Xu1Ps4On7Mm9Ll2Kk5Jj0Ii3Hh"
SLACK_CLIENT_ID = "7391046258.6203948571625"
SLACK_CLIENT_SECRET = "c3e5a7b9d1f3a5c7e9b1d3f5a7c9e1b3"
INSTALLED_TOKEN = "xoxb-7391046258-6019283746501-Hn5Bv8Cx1Zl4Kj7Gf0Ds3Ap6"

# name → (the value, its prefix that is no secret on its own)
SECRETS = {
    "SLACK_BOT_TOKEN": (BOT_TOKEN, "xoxb-"),
    "SLACK_SIGNING_SECRET": (SIGNING_SECRET, ""),
    "ANTHROPIC_API_KEY": (CLAUDE_KEY, "sk-ant-api03-"),
    "FLOWPILOT_API_TOKENS": (API_TOKEN, "fpapi-"),
    "the caller's wrong API token": (WRONG_API_TOKEN, "fpapi-"),
    "Teams CLIENTSECRET": (TEAMS_SECRET, ""),
    "SLACK_CLIENT_SECRET": (SLACK_CLIENT_SECRET, ""),
    "a workspace's installed bot token": (INSTALLED_TOKEN, "xoxb-"),
}
CLAUDE_TIMEOUT = 1.0


def _fragments(value: str, prefix: str) -> set[str]:
    """The value, what follows its prefix, its first and last 12 characters after it, and its base64."""
    body = value.removeprefix(prefix)
    return {value, body, body[:12], body[-12:], base64.b64encode(value.encode()).decode().rstrip("=")}


FRAGMENTS = {name: _fragments(value, prefix) for name, (value, prefix) in SECRETS.items()}
FORMATTER = logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s")


def no_leak(lines: Iterable[str]) -> None:
    found = leaks(lines)
    assert not found, f"{len(found)} leaks:\n" + "\n".join(f"{name}: {line}" for name, line in found[:20])


def leaks(lines: Iterable[str]) -> list[tuple[str, str]]:
    """(which credential, the line) for every line holding a credential or a piece of one."""
    found = []
    for line in lines:
        for name, pieces in FRAGMENTS.items():
            if any(piece in line for piece in pieces):
                found.append((name, line[:400]))
    return found


def test_the_fragments_catch_the_usual_shapes_of_a_leak() -> None:
    shapes = [
        f"headers: {{'Authorization': 'Bearer {BOT_TOKEN}'}}",
        f"token={BOT_TOKEN.removeprefix('xoxb-')[:20]}…",
        f"x-api-key: …{CLAUDE_KEY[-14:]}",
        f"Authorization: Basic {base64.b64encode(f'{API_TOKEN}'.encode()).decode()}",
        f"client_secret={TEAMS_SECRET}&grant_type=client_credentials",
        f"v0:{SIGNING_SECRET}",
    ]
    assert [name for name, _ in leaks(shapes)] == [
        "SLACK_BOT_TOKEN",
        "SLACK_BOT_TOKEN",
        "ANTHROPIC_API_KEY",
        "FLOWPILOT_API_TOKENS",
        "Teams CLIENTSECRET",
        "SLACK_SIGNING_SECRET",
    ]
    assert leaks(["xoxb-test fpapi- sk-ant-api03-[REDACTED] Bearer local-development"]) == []


class Captured(logging.Handler):
    """What a log handler of `flowpilot serve` writes: every record that reaches it, formatted."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.setFormatter(FORMATTER)
        self.lines: list[str] = []
        self.loggers: set[str] = set()

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))
        if record.levelno == logging.DEBUG:
            self.loggers.add(record.name.split(".")[0])


@pytest.fixture
def every_log_line() -> Iterator[Captured]:
    """Every logger at DEBUG, including those a library set to WARNING itself (sqlalchemy), into one handler
    on the root logger, as in `flowpilot serve`. The test puts the mask serve uses on it."""
    root = logging.getLogger()
    before = {
        name: logger.level
        for name, logger in logging.root.manager.loggerDict.items()
        if isinstance(logger, logging.Logger)
    }
    root_level = root.level
    handler = Captured()
    root.setLevel(logging.DEBUG)
    for name in before:
        logging.getLogger(name).setLevel(logging.DEBUG)
    root.addHandler(handler)
    try:
        yield handler
    finally:
        root.removeHandler(handler)
        root.setLevel(root_level)
        for name, logger in list(logging.root.manager.loggerDict.items()):
            if isinstance(logger, logging.Logger):
                logger.setLevel(before.get(name, logging.NOTSET))


def masked_like_serve(handler: Captured, settings: Settings) -> Captured:
    """The filter `flowpilot serve` puts on its log handler (adapters.cli.configure_logging)."""
    handler.addFilter(LogMask(credentials(settings)))
    return handler


class _Signed(SlackHarness):
    """SlackHarness signing with this test's signing secret unless told otherwise."""

    async def post(self, body: bytes, **header_options: Any) -> aiohttp.ClientResponse:
        header_options.setdefault("secret", SIGNING_SECRET)
        return await super().post(body, **header_options)


def _after(slack: SlackHarness, action: str, ts: str) -> list[dict[str, Any]]:
    return [m for m in slack.with_action(action) if m["ts"] > ts]


async def _reply(slack: SlackHarness, header: dict[str, Any], text: str, **kwargs: Any) -> None:
    fake = slack.fake
    await slack.event(
        fake.post_user_message(fake.general, text, user=ALICE, thread_ts=header["ts"], **kwargs)
    )


async def drive_slack(slack: SlackHarness, logged: Callable[[str], bool]) -> None:
    """Everything that tends to log request details, through signed Slack requests."""
    fake, claude = slack.fake, slack.claude

    # Slack refuses the bot token when Bolt first authorizes: that request is dropped (and logged).
    fake.fail("auth.test", error="invalid_auth", status=200)
    assert (await slack.slash("Outlook keeps asking for the password at Contoso")).status == 200
    await wait_for(lambda: logged("Failed to authorize"), what="the refused authorization logged")

    header, turn = await started(slack)

    # Claude: the key rejected, errors, overloaded, a timeout; each gives a Retry notice, the last Retry answers.
    notice = turn
    for fault in ("401", "500", "529", "timeout"):
        if fault == "timeout":
            claude.latency = CLAUDE_TIMEOUT * 3
        else:
            claude.queue_error(int(fault), message=f"Scripted {fault}")
        if notice is turn:
            await _reply(slack, header, "Credential Manager has two entries for outlook.office365.com")
        else:
            await slack.click(notice, "fp_retry")
        notice = (await wait_for(partial(_after, slack, "fp_retry", notice["ts"]), what=f"Claude {fault}"))[0]
        assert "Claude is not answering" in shown_text(notice)
    claude.latency = 0
    await slack.click(notice, "fp_retry")
    turn = (await wait_for(lambda: _after(slack, "fp_answer_1_0", notice["ts"]), what="the answer"))[0]

    # Slack's Web API failing: the reply refused (500), and Retry shows it again.
    fake.fail("chat.postMessage", error="internal_error", status=500)
    await _reply(slack, header, "It started after the password change")
    notice = (await wait_for(lambda: _after(slack, "fp_retry", turn["ts"]), what="Slack refused"))[0]
    await slack.click(notice, "fp_retry")
    turn = (await wait_for(lambda: _after(slack, "fp_answer_1_0", notice["ts"]), what="shown again"))[0]
    await wait_for(
        lambda: "fp_retry" not in action_ids(fake.message(fake.general, notice["ts"]) or {}),
        what="the Retry marked done, the last thing that click does",
    )
    # ... and the token revoked while the header is edited.
    fake.fail("chat.update", error="token_revoked", status=200)
    await _reply(slack, header, "Still failing after the reboot")
    await wait_for(
        lambda: [m for m in _after(slack, "fp_retry", turn["ts"]) if "token_revoked" in shown_text(m)],
        what="Slack refused with token_revoked",
    )

    # Requests that are not Slack's: a wrong signing secret, a stale timestamp.
    body = slash_command_body(
        "/flowpilot", "status", user_id=ALICE, channel_id=fake.general, team_id=fake.team_id
    )
    assert (await slack.post(body, secret="not-the-signing-secret")).status == 401
    assert (await slack.post(body, timestamp=1_000_000_000)).status == 401

    # Files downloaded with the bot token: one fetched, one gone (404).
    log = fake.add_file("outlook.log", b"10:01 ERROR AADSTS50076 MFA required\n", "text/plain", user=ALICE)
    gone = {
        **log,
        "name": "gone.log",
        "url_private": log["url_private"].replace(log["id"], "F0DELETED1"),
        "url_private_download": log["url_private_download"].replace(log["id"], "F0DELETED1"),
    }
    calls = len(claude.requests)
    await _reply(slack, header, "Here is the log", files=[log, gone])
    await wait_for(lambda: len(claude.requests) > calls, what="the turn with the file")
    await wait_for(lambda: fake.ephemerals(fake.general), what="the lost file reported")
    assert len(fake.calls("files-pri")) == 2
    await wait_for(lambda: _after(slack, "fp_answer_1_0", turn["ts"]), what="the answer to the file")


async def drive_api(http: aiohttp.ClientSession, url: str, claude: FakeAnthropic) -> None:
    """The REST API with a wrong bearer token, a right one, and Claude failing behind a right one."""
    wrong = {"Authorization": f"Bearer {WRONG_API_TOKEN}"}
    right = {"Authorization": f"Bearer {API_TOKEN}", "X-FlowPilot-User": ALICE}
    async with http.get(f"{url}/api/ai-sessions", headers=wrong) as r:
        assert r.status == 401
    async with http.get(f"{url}/api/ai-sessions", headers={"Authorization": WRONG_API_TOKEN}) as r:
        assert r.status == 401
    async with http.get(f"{url}/api/ai-sessions", headers=right) as r:
        assert r.status == 200
    claude.queue_error(500)
    async with http.post(f"{url}/api/ai-sessions", headers=right, json={"text": "VPN drops every hour"}) as r:
        assert r.status == 502 and (await r.json())["error"]["code"] == "claude_unavailable"


async def drive_teams(http: aiohttp.ClientSession, url: str, connector: FakeConnector) -> None:
    """Teams with a client secret configured: activities without a token, and with one that is no JWT."""
    activity = personal_message("hi", service_url=connector.service_url)
    async with http.post(f"{url}/api/messages", json=activity) as r:
        assert r.status == 401
    async with http.post(
        f"{url}/api/messages", json=activity, headers={"Authorization": "Bearer not-a-jwt"}
    ) as r:
        assert r.status == 401


SECRET_SETTINGS: dict[str, Any] = {
    "SLACK_BOT_TOKEN": BOT_TOKEN,
    "SLACK_SIGNING_SECRET": SIGNING_SECRET,
    "ANTHROPIC_API_KEY": CLAUDE_KEY,
    "CONNECTIONS__SERVICE_CONNECTION__SETTINGS__CLIENTID": DEFAULT_BOT_APP_ID,
    "CONNECTIONS__SERVICE_CONNECTION__SETTINGS__CLIENTSECRET": TEAMS_SECRET,
    "CONNECTIONS__SERVICE_CONNECTION__SETTINGS__TENANTID": DEFAULT_TENANT_ID,
    "FLOWPILOT_CLAUDE_TIMEOUT": str(CLAUDE_TIMEOUT),
}


@pytest.fixture
def secret_slack(fake_slack: FakeSlack) -> FakeSlack:
    fake_slack.tokens = {BOT_TOKEN}
    return fake_slack


async def test_no_credential_reaches_a_log_line_at_debug_whatever_fails(
    every_log_line: Captured,
    db_url: str,
    fake_claude: FakeAnthropic,
    secret_slack: FakeSlack,
    connector: FakeConnector,
) -> None:
    settings = app_settings(
        db_url,
        fake_claude,
        **SECRET_SETTINGS,
        SLACK_API_URL=secret_slack.api_url,
        FLOWPILOT_API_TOKENS=f"{API_TOKEN}@slack:{secret_slack.team_id}",
    )
    log = masked_like_serve(every_log_line, settings)

    def logged(text: str) -> bool:
        return any(text in line for line in log.lines)

    async with running_app(settings) as (url, runtime), aiohttp.ClientSession() as http:
        slack = _Signed(url, runtime, secret_slack, fake_claude, http)
        await drive_slack(slack, logged)
        await drive_api(http, url, fake_claude)
        await drive_teams(http, url, connector)

    # The capture saw the libraries' request logging at DEBUG, not only our own lines, and the app really
    # used the credentials it must not log.
    assert {"slack_sdk", "slack_bolt", "anthropic", "sqlalchemy", "microsoft_agents"} <= log.loggers
    assert {r.api_key for r in fake_claude.requests} == {CLAUDE_KEY}
    assert all(d["authorized"] for d in secret_slack.calls("files-pri"))
    no_leak(log.lines)


async def test_an_oauth_install_logs_neither_the_client_secret_nor_the_token_it_hands_out(
    every_log_line: Captured, db_url: str, fake_claude: FakeAnthropic, fake_slack: FakeSlack
) -> None:
    """The installed token is learnt at run time, so only its shape can mask it: slack_sdk logs the
    oauth.v2.access answer at DEBUG, and SQLAlchemy the INSERT of the installation and the rows read back."""
    fake_slack.add_oauth_app(SLACK_CLIENT_ID, SLACK_CLIENT_SECRET)
    fake_slack.tokens = {INSTALLED_TOKEN}
    settings = app_settings(
        db_url,
        fake_claude,
        SLACK_SIGNING_SECRET=SIGNING_SECRET,
        SLACK_API_URL=fake_slack.api_url,
        SLACK_CLIENT_ID=SLACK_CLIENT_ID,
        SLACK_CLIENT_SECRET=SLACK_CLIENT_SECRET,
        ANTHROPIC_API_KEY=CLAUDE_KEY,
    )
    log = masked_like_serve(every_log_line, settings)
    async with running_app(settings) as (url, runtime), aiohttp.ClientSession() as http:
        async with http.get(f"{url}/slack/install", allow_redirects=False) as response:
            page = await response.text()
            location = response.headers.get("Location", "")
        found = re.search(r"state=([^&\"' <]+)", html.unescape(location or page))
        assert found is not None
        back = f"{url}/slack/oauth_redirect"
        params = {"code": fake_slack.oauth_code(INSTALLED_TOKEN), "state": found.group(1)}
        cookie = {"Cookie": f"slack-app-oauth-state={found.group(1)}"}
        async with http.get(back, params=params, headers=cookie) as response:
            assert response.status == 200, await response.text()
        async with http.get(back, params=params, headers=cookie) as response:
            assert response.status >= 400  # the same redirect again: its state is used up
        # The workspace is answered with the installed token.
        await started(_Signed(url, runtime, fake_slack, fake_claude, http))
    assert fake_slack.calls("oauth.v2.access") and "sqlalchemy" in log.loggers
    no_leak(log.lines)


def test_the_mask_covers_message_arguments_exceptions_and_stacks() -> None:
    mask = LogMask([SLACK_CLIENT_SECRET, "short"])
    handler = Captured()
    handler.addFilter(mask)
    logger = logging.getLogger("tests.reliability.logs")
    logger.addHandler(handler)
    logger.propagate = False
    logger.setLevel(logging.DEBUG)
    try:
        logger.debug("Received the following response - body: %s", {"access_token": INSTALLED_TOKEN})
        logger.info("[generated in 0.0003s] %r", ("T0FAKETEAM", INSTALLED_TOKEN, None))
        try:
            raise RuntimeError(f"oauth.v2.access refused client_secret={SLACK_CLIENT_SECRET}")
        except RuntimeError:
            logger.exception("install failed for %s", SLACK_CLIENT_ID)
        logger.warning("headers: {'Authorization': 'Bearer %s'}", BOT_TOKEN, stack_info=True)
        logger.info("a short word stays: short; token_revoked stays too")
        logger.info("one argument %s for two", API_TOKEN, TEAMS_SECRET)  # logging would print these raw
    finally:
        logger.removeHandler(handler)
        logger.propagate = True
        logger.setLevel(logging.NOTSET)
    no_leak(handler.lines)
    assert len(handler.lines) == 6
    assert "RuntimeError" in handler.lines[2] and SLACK_CLIENT_ID in handler.lines[2]
    assert "Stack (most recent call last)" in handler.lines[3]
    assert handler.lines[4].endswith("a short word stays: short; token_revoked stays too")
    assert "arguments withheld" in handler.lines[5]


def test_flowpilot_serve_installs_the_mask_on_its_log_handler() -> None:
    """configure_logging and credentials, called as `flowpilot serve` calls them, in a fresh interpreter."""
    script = (
        "import logging\n"
        "from adapters.cli import configure_logging, credentials\n"
        "from bot.settings import Settings\n"
        "s = Settings(_env_file=None)\n"
        "configure_logging('DEBUG', secrets=credentials(s))\n"
        "for name, value in sorted(s):\n"
        "    logging.getLogger('anything').info('%s=%s', name, getattr(value, 'get_secret_value', lambda: value)())\n"
        "logging.getLogger('anything').warning('api token alone: %s', " + repr(API_TOKEN) + ")\n"
    )
    env = {
        **os.environ,
        **{k: str(v) for k, v in SECRET_SETTINGS.items()},
        "SLACK_CLIENT_SECRET": SLACK_CLIENT_SECRET,
        "FLOWPILOT_API_TOKENS": f"{API_TOKEN}@slack:T0FAKETEAM, {WRONG_API_TOKEN}@api:elsewhere",
        "DATABASE_URL": "postgresql://flowpilot:Pw7Hq2Lz9Xc4Vb1N@db.internal:5432/flowpilot",
    }
    done = subprocess.run(
        [sys.executable, "-c", script], env=env, cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    # Secrets masked, plain settings kept as they are.
    assert "slack_bot_token=[REDACTED" in done.stderr and "db_pool_size=10" in done.stderr
    no_leak(done.stderr.splitlines())
    assert "Pw7Hq2Lz9Xc4Vb1N" not in done.stderr


@dataclass
class _Served:
    url: str
    log: Callable[[], str]


@pytest.fixture
async def served_with_secrets(
    db_url: str, fake_claude: FakeAnthropic, secret_slack: FakeSlack
) -> AsyncIterator[_Served]:
    env = {
        **serve_env(db_url, fake_claude, secret_slack),
        **{k: str(v) for k, v in SECRET_SETTINGS.items()},
        "FLOWPILOT_API_TOKENS": f"{API_TOKEN}@slack:{secret_slack.team_id}",
        "FLOWPILOT_LOG_LEVEL": "DEBUG",
    }
    server = flowpilot(env, name="logs")
    try:
        await server.start(ready_path="/readyz", timeout=60)
        yield _Served(server.url, lambda: server.log.read_text() if server.log else "")
    finally:
        await server.stop()
        if server.log:
            server.log.unlink(missing_ok=True)


async def test_the_log_of_flowpilot_serve_at_debug_holds_no_credential(
    served_with_secrets: _Served,
    db: async_sessionmaker[AsyncSession],
    fake_claude: FakeAnthropic,
    secret_slack: FakeSlack,
    connector: FakeConnector,
) -> None:
    served = served_with_secrets
    async with aiohttp.ClientSession() as http:
        slack = _Signed(served.url, _DbOnly(db), secret_slack, fake_claude, http)  # type: ignore[arg-type]  # only .db of a Runtime
        await drive_slack(slack, lambda text: text in served.log())
        await drive_api(http, served.url, fake_claude)
        await drive_teams(http, served.url, connector)
    log = served.log()
    assert " DEBUG " in log and "Slack adapter on" in log  # the DEBUG log of the app that did all this
    assert "Failed to authorize" in log and "JWT validation error" in log
    no_leak(log.splitlines())
