"""Files and pictures attached in Teams reach Claude; the bot token goes nowhere else; cards fit whatever happens."""

from __future__ import annotations

import json

import pytest
import sqlalchemy as sa
from microsoft_agents.activity import Activity

from adapters.teams import cards
from adapters.teams import messages as text
from adapters.teams.files import incoming_files
from bot.events import Question, SuggestedAction
from fakes.connector import DEFAULT_PERSONAL_CONVERSATION_ID as CHAT
from fakes.connector import FakeConnector, card_submit, personal_message
from storage.models import AISession
from tests.teams.conftest import Teams, wait_for
from tests.teams.helpers import buttons, card_of, cards_in, texts

pytestmark = pytest.mark.filterwarnings("ignore::aiohttp.web_exceptions.NotAppKeyWarning")

# The smallest valid PNG: 1×1, one transparent pixel.
PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360000002000001e221bc330000000049454e44ae426082"
)
LOG = b"2026-01-05 10:00:01 INFO start\n2026-01-05 10:00:02 ERROR IKE SA rekey failed: peer FW-01 timed out\n"


async def test_a_log_file_and_a_pasted_screenshot_reach_claude_and_the_token_stays_home(teams: Teams) -> None:
    fake = teams.connector
    download_url = fake.add_file("fw01.log", LOG, content_type="text/plain")
    fake.add_file("shot-1", PNG, content_type="image/png")
    async with FakeConnector() as elsewhere:
        stray = elsewhere.add_file("shot-2", PNG, content_type="image/png")
        activity = personal_message("VPN drops, log and screenshot attached", service_url=fake.service_url)
        activity["attachments"] = [
            {
                "contentType": "application/vnd.microsoft.teams.file.download.info",
                "name": "fw01.log",
                "content": {"downloadUrl": download_url, "uniqueId": "1", "fileType": "log"},
            },
            {
                "contentType": "image/*",
                "contentUrl": f"{fake.service_url}v3/attachments/shot-1/views/original",
            },
            {"contentType": "image/*", "contentUrl": stray},
            {"contentType": "text/html", "content": "<p>VPN drops, log and screenshot attached</p>"},
        ]
        await teams.post(activity)
        await wait_for(lambda: teams.claude.requests, what="Claude called")
        assert elsewhere.requests == []  # an attachment on another host is never fetched

    downloads = {r.path: r for r in fake.requests if r.method == "GET"}
    assert set(downloads) == {"/files/fw01.log", "/v3/attachments/shot-1/views/original"}
    assert downloads["/files/fw01.log"].authorization is None  # a downloadUrl is pre-authenticated
    sent = json.dumps(teams.claude.requests[0].body)
    assert "IKE SA rekey failed" in sent
    assert '"type": "image"' in sent
    warning = await wait_for(
        lambda: [a for a in fake.activities(CHAT) if a.attachments and "couldn't open" in texts(card_of(a))],
        what="the refused picture named",
    )
    assert "screenshot.png" in texts(card_of(warning[0]))


def test_the_bot_token_is_only_offered_to_the_activitys_own_service() -> None:
    service = "https://smba.trafficmanager.net/emea/"
    activity = Activity.model_validate(
        {
            "type": "message",
            "serviceUrl": service,
            "attachments": [
                {"contentType": "image/*", "contentUrl": f"{service}v3/attachments/0-weu-d1/views/original"},
                {
                    "contentType": "application/vnd.microsoft.teams.file.download.info",
                    "name": "dc01.log",
                    "content": {"downloadUrl": "https://contoso.sharepoint.com/personal/ada/dl?x=1"},
                },
                {"contentType": "image/png", "name": "a.png", "contentUrl": "https://evil.example/a.png"},
                {"contentType": "image/*", "contentUrl": "https://smba.trafficmanager.net:8443/emea/x"},
                {
                    "contentType": "application/vnd.microsoft.teams.file.download.info",
                    "name": "b.log",
                    "content": {"downloadUrl": "http://contoso.sharepoint.com/b.log"},
                },
                {
                    "contentType": "image/png",
                    "name": "g.png",
                    "contentUrl": "https://graph.microsoft.com/v1.0/x",
                },
                {"contentType": "image/png", "name": "l.png", "contentUrl": "https://127.0.0.1/admin/x.png"},
                {
                    "contentType": "application/vnd.microsoft.teams.file.download.info",
                    "name": "c.log",
                    "content": {"downloadUrl": "https://contoso.sharepoint.com:8443/c.log"},
                },
                {
                    "contentType": "image/png",
                    "name": "h.png",
                    "contentUrl": "http://smba.trafficmanager.net/emea/x",
                },
            ],
        }
    )
    wanted, refused = incoming_files(activity, anonymous=False)
    assert [(w.name, w.with_token) for w in wanted] == [
        ("screenshot.png", True),
        ("dc01.log", False),
        ("g.png", False),
    ]
    assert refused == ["a.png", "screenshot.png", "b.log", "l.png", "c.log", "h.png"]


def test_an_oversized_turn_keeps_every_question_and_action_by_shortening_texts() -> None:
    import uuid

    questions = tuple(
        Question(
            id=f"q{i}",
            text="❓" * 900,
            options=tuple(f"Option {n}: " + "check the tunnel " * 5 for n in range(6)),
        )
        for i in range(6)
    )
    actions = tuple(SuggestedAction(id=f"a{i}", text="🛠" * 900) for i in range(8))
    content = cards.turn(uuid.uuid4(), "🔥" * 6000, questions, actions)
    assert cards.size(content) <= cards.MAX_CARD_BYTES
    titles = [b["title"] for b in buttons(content)]
    assert titles.count("Done") == 8 and titles.count("Didn't work") == 8
    assert sum(1 for b in buttons(content) if b["data"].get("fp") == "answer") == 36
    assert text.TRUNCATED.strip() in texts(content)


def test_when_something_must_be_dropped_the_card_says_so() -> None:
    body = [cards.block("x" * 40) for _ in range(3000)]
    content = cards.card(body)
    assert cards.size(content) <= cards.MAX_CARD_BYTES
    assert content["body"][-1]["text"].startswith("⚠️")
    assert "left out" in content["body"][-1]["text"]


async def test_long_non_ascii_options_all_get_buttons_and_a_click_stores_the_whole_option(
    teams: Teams,
) -> None:
    fake = teams.connector
    # Whole option texts in button data would weigh about 1 KB a button here, over Teams' limit in all.
    options = [f"{n}) " + "Перезапустить службу IKE на FW-01 и проверить туннель. " * 5 for n in range(8)]
    teams.claude.queue_turn(
        {
            "message": "Let's narrow it down.",
            "questions": [{"id": f"q{i}", "text": f"Question {i}?", "options": options} for i in range(3)],
            "problem_summary": "VPN drops",
            "confidence": 0.5,
        }
    )
    await teams.post(personal_message("VPN drops every hour", service_url=fake.service_url))
    sent = await wait_for(
        lambda: cards_in(fake, CHAT) if len(cards_in(fake, CHAT)) >= 2 else None, what="turn"
    )
    turn = card_of(sent[1])
    answers = [b for b in buttons(turn) if b["data"].get("fp") == "answer"]
    assert len(answers) == 24 and "left out" not in texts(turn)
    assert all(len(json.dumps(b["data"]).encode()) < 120 for b in answers)

    last = answers[-1]
    qid = last["data"]["qid"]
    assert qid.endswith("q2")
    await teams.post(card_submit(last["data"], service_url=fake.service_url, reply_to_id=sent[1].id))

    async def stored() -> str | None:
        async with teams.db() as db:
            lane = (await db.execute(sa.select(AISession.pending_task_lane))).scalar_one() or {}
        return next((q.get("answer") for q in lane.get("questions", []) if q["id"] == qid), None)

    assert await wait_for(stored, what="the answer stored") == options[7].strip()[:200]
