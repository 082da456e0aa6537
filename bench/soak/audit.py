"""The audit: every distinct input against the database and against what each engineer was shown."""

from __future__ import annotations

import asyncio
import json
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import asyncpg
from sqlalchemy.engine import make_url

from bot import messages as core_msg
from storage.engine import normalize_url

from .model import TOKEN, Result

if TYPE_CHECKING:
    from .runner import Soak


# ── the audit ────────────────────────────────────────────────────────────────────────────────────────
def asyncpg_dsn(url: str) -> str:
    u = make_url(normalize_url(url))
    return u.set(drivername="postgresql").render_as_string(hide_password=False)


# What an engineer may be shown when an input is refused, by what it can refuse.
QUESTION_REFUSALS = (core_msg.QUESTION_CLOSED, core_msg.QUESTION_ANSWERED.split("{by}")[1].split("{")[0])
ACTION_REFUSALS = (core_msg.ACTION_UNKNOWN, core_msg.ACTION_MARKED.split("{by}")[1].split("{")[0])
STATE_REFUSALS = (
    core_msg.NOT_ACTIVE.split("{")[0],  # "This session is paused. Resume it first." / "… resolved …"
    core_msg.ALREADY.split("{")[0],  # "This session is already paused." (Pause pressed again)
    core_msg.BUSY,
    core_msg.NO_DRAFT,
    core_msg.RATING_NOT_YET,
    core_msg.NOTHING_TO_RETRY,
)
SUCCESS_NOTICES = {
    "pause": core_msg.PAUSED,
    "resume": core_msg.RESUMED,
}
INFO_NOTICES = (
    core_msg.WAITING_FOR_ANSWERS.split("{")[0],
    core_msg.PAUSED,
    core_msg.RESUMED,
    core_msg.RATED.split("{")[0],
)
ERROR_NOTICES = (
    core_msg.INTERNAL_ERROR.split("{")[0],
    core_msg.DATABASE_DOWN,
    "FlowPilot can't reach its database",
    core_msg.CLAUDE_DOWN.split("{")[0],
    core_msg.CLAUDE_BAD_OUTPUT,
    core_msg.INTERRUPTED,
    core_msg.DRAFT_INTERRUPTED,
    core_msg.SHUTTING_DOWN,
    core_msg.SESSION_NOT_FOUND,
    "Slack refused",
)


def classify(text: str) -> str:
    """question / action / state refusal, info, error, or other."""
    if any(r in text for r in QUESTION_REFUSALS):
        return "question"
    if any(r in text for r in ACTION_REFUSALS):
        return "action"
    if any(text.startswith(r) for r in STATE_REFUSALS):
        return "state"
    if any(text.startswith(e) for e in ERROR_NOTICES):
        return "error"
    if any(text.startswith(i) for i in INFO_NOTICES):
        return "info"
    return "other"


@dataclass
class _Outcome:
    """Per engineer: how many of each kind of input did not take effect."""

    unrecorded: Counter[str] = field(default_factory=Counter)


async def settle(soak: Soak, db_url: str) -> None:
    """Wait until no session is leased or waiting for Claude, and neither fake has been called for 3 s."""
    config, result = soak.config, soak.result
    started = time.monotonic()
    conn = await asyncpg.connect(asyncpg_dsn(db_url))
    try:
        while True:
            busy = await conn.fetchval(
                "SELECT count(*) FROM ai_sessions WHERE lease_owner IS NOT NULL OR awaiting_reply"
            )
            quiet = time.monotonic() - soak.slack.last_call
            if busy == 0 and quiet >= 3.0:
                break
            if time.monotonic() - started > config.settle_timeout:
                result.settled = False
                break
            await asyncio.sleep(0.5)
    finally:
        await conn.close()
    result.settle_seconds = time.monotonic() - started


def _target(content: str, lane: dict[str, str], done: set[str], prefix: str, step_order: int) -> str:
    """Which question or suggested step an engineer's answer or mark was for: the first still open whose
    text it quotes after `prefix` (then any, for a repeat), else an id of its own that counts as unknown."""

    def quoted(items: dict[str, str]) -> str | None:
        return next((k for k, text in items.items() if content.startswith(f'{prefix} "{text}":')), None)

    return quoted({k: v for k, v in lane.items() if k not in done}) or quoted(lane) or f"?{step_order}"


def _lane(step_order: int, items: Any) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in items or []:
        key = f"{step_order}.{item['id']}"
        out.setdefault(key, item["text"])
    return out


@dataclass
class _Recorded:
    """What the database holds, counted the way the soak sent it."""

    rated: set[str]  # sessions with a rating
    tokens: Counter[str] = field(default_factory=Counter)  # intake and reply markers recorded
    targets: Counter[tuple[str, str]] = field(default_factory=Counter)  # (session, question or step id)
    drafts: Counter[str] = field(default_factory=Counter)  # resolve handoffs per session
    confirmed: Counter[str] = field(default_factory=Counter)  # confirmed resolve handoffs per session
    unanswered: list[str] = field(default_factory=list)  # engineer steps that asked Claude and got nothing


@dataclass
class _Lanes:
    """The questions and suggested steps of Claude's latest answer, and which were answered or marked."""

    questions: dict[str, str] = field(default_factory=dict)
    actions: dict[str, str] = field(default_factory=dict)
    answered: set[str] = field(default_factory=set)
    marked: set[str] = field(default_factory=set)

    @property
    def questions_done(self) -> bool:
        return set(self.questions) <= self.answered


class _Ledger:
    """Settles groups of inputs: recorded, duplicated, or not recorded (per engineer, to match refusals)."""

    def __init__(self, result: Result) -> None:
        self.result = result
        self.outcomes: dict[int, _Outcome] = defaultdict(_Outcome)

    def settle(
        self, engineer: int, kind: str, sent: int, recorded: int, what: str, at_most: int | None = None
    ) -> None:
        """`sent` new inputs of one thing, `recorded` times found: each at most once, and the thing itself
        at most `at_most` times whatever was sent (a question is answered once); the rest must be refused."""
        result = self.result
        allowed = sent if at_most is None else min(sent, at_most)
        took = min(allowed, recorded)
        result.recorded += took
        if recorded > allowed:
            result.duplicate += recorded - allowed
            result.duplicate_detail.append(f"{what}: {sent} sent, {recorded} recorded")
        if sent > took:
            self.outcomes[engineer].unrecorded[kind] += sent - took


async def audit(soak: Soak, db_url: str) -> None:
    """Every distinct input against the database and against what each engineer was shown."""
    result = soak.result
    sessions, steps, handoffs = await _fetch(db_url)
    by_session: dict[str, list[asyncpg.Record]] = defaultdict(list)
    for step in steps:
        by_session[str(step["session_id"])].append(step)
    recorded = _Recorded(rated={str(s["id"]) for s in sessions if s["session_rating"] is not None})
    for sid, rows in by_session.items():
        _read_session(sid, rows, recorded, result)
    for row in handoffs:
        if row["kind"] == "resolve":
            recorded.drafts[str(row["session_id"])] += 1
            if row["status"] == "confirmed":
                recorded.confirmed[str(row["session_id"])] += 1
    for session in sessions:
        _check_session(session, by_session.get(str(session["id"]), []), recorded.confirmed, result)
    ledger = _Ledger(result)
    controls = _settle_inputs(soak, recorded, ledger)
    for engineer in range(result.engineers):
        _settle_shown(soak, engineer, controls, ledger)
    # An engineer step that should have had Claude's answer and has none is a lost turn too.
    result.lost += len(recorded.unanswered)
    result.lost_detail.extend(f"no answer to {u}" for u in recorded.unanswered)


async def _fetch(db_url: str) -> tuple[list[asyncpg.Record], list[asyncpg.Record], list[asyncpg.Record]]:
    """The sessions, their steps (in order) and their handoffs."""
    conn = await asyncpg.connect(asyncpg_dsn(db_url))
    try:
        sessions = await conn.fetch(
            "SELECT id, status, lease_owner, turn_in_flight::text AS turn, "
            "jsonb_typeof(turn_in_flight) AS turn_type, awaiting_reply, step_count, resolved_at, "
            "session_rating FROM ai_sessions"
        )
        steps = await conn.fetch(
            "SELECT session_id, step_order, role, kind, content, questions, actions FROM ai_session_steps "
            "ORDER BY session_id, step_order"
        )
        handoffs = await conn.fetch("SELECT session_id, kind, status FROM session_handoffs")
    finally:
        await conn.close()
    return sessions, steps, handoffs


# ── what was recorded ────────────────────────────────────────────────────────────────────────────────
def _read_session(sid: str, rows: list[asyncpg.Record], recorded: _Recorded, result: Result) -> None:
    """One session's steps: the markers and targets its engineer steps recorded, and any left unanswered."""
    lanes = _Lanes()
    waiting: int | None = None  # the step order of an engineer step that asked Claude for a turn
    for row in rows:
        if row["role"] == "assistant":
            result.claude_answers += 1
            waiting = None
            lanes = _Lanes(
                questions=_lane(row["step_order"], _json(row["questions"])),
                actions=_lane(row["step_order"], _json(row["actions"])),
            )
            continue
        result.engineer_steps += 1
        if waiting is not None:
            recorded.unanswered.append(f"{sid} step {waiting}")
        waiting = _read_engineer_step(sid, row, lanes, recorded)
    if waiting is not None:
        recorded.unanswered.append(f"{sid} step {waiting}")


def _read_engineer_step(sid: str, row: asyncpg.Record, lanes: _Lanes, recorded: _Recorded) -> int | None:
    """Count what one engineer step recorded; its step order when it asked Claude for a turn."""
    content = row["content"] or ""
    order: int = row["step_order"]
    if row["kind"] in ("intake", "message"):
        for token in set(TOKEN.findall(content)):
            recorded.tokens[token] += 1
        return order
    if row["kind"] == "answer":
        qid = _target(content, lanes.questions, lanes.answered, "Answer to", order)
        recorded.targets[(sid, qid)] += 1
        lanes.answered.add(qid)
        return order if lanes.questions_done else None
    if row["kind"] == "action_result":
        aid = _target(content, lanes.actions, lanes.marked, "Suggested step", order)
        recorded.targets[(sid, aid)] += 1
        lanes.marked.add(aid)
        return order if lanes.questions_done and set(lanes.actions) <= lanes.marked else None
    return None


# ── the sessions themselves ──────────────────────────────────────────────────────────────────────────
def _check_session(
    s: asyncpg.Record, rows: list[asyncpg.Record], confirmed: Counter[str], result: Result
) -> None:
    """A session at the end: not stuck, its steps numbered 1..n, its status and handoffs consistent."""
    sid, status = str(s["id"]), s["status"]
    result.statuses_at_end[status] += 1
    if s["lease_owner"] is not None:
        result.stuck.append(f"{sid} leased ({status}, turn {s['turn']})")
    elif s["turn_type"] == "null":
        # JSON null, not SQL NULL: `turn_in_flight IS NOT NULL` (the recovery sweep) takes it for a turn.
        result.turn_json_null.append(sid)
    elif s["turn_type"] is not None:
        result.stuck.append(f"{sid} with a turn in flight and no lease ({status}, turn {s['turn']})")
    if s["awaiting_reply"]:
        result.stuck.append(f"{sid} still waiting for Claude ({status})")
    orders = [r["step_order"] for r in rows]
    if orders != list(range(1, len(orders) + 1)) or s["step_count"] != len(orders):
        result.inconsistent.append(f"{sid}: step_count {s['step_count']}, steps {orders[:3]}…({len(orders)})")
    if status not in ("active", "paused", "resolved"):
        result.inconsistent.append(f"{sid}: status {status}, never asked for")
    if status == "resolved" and (s["resolved_at"] is None or confirmed[sid] != 1):
        result.inconsistent.append(f"{sid}: resolved with {confirmed[sid]} confirmed handoffs")
    if status != "resolved" and confirmed[sid]:
        result.inconsistent.append(f"{sid}: {status} with {confirmed[sid]} confirmed handoffs")


# ── each input: recorded once, refused, lost or duplicated ───────────────────────────────────────────
def _settle_inputs(soak: Soak, recorded: _Recorded, ledger: _Ledger) -> dict[tuple[int, str], Counter[str]]:
    """Settle every group of inputs sent against what was recorded; returns the pauses and resumes sent
    (per engineer and control, by session), which are settled against what the engineer was told."""
    groups: dict[tuple[int, str, str], int] = Counter()
    for item in soak.sent:
        if item.kind in ("open", "reply"):
            key = item.token
        elif item.kind in ("answer", "mark"):
            key = f"{item.sid}|{item.target}"
        else:
            key = item.sid
        groups[(item.engineer, item.kind, key)] += 1

    seen_targets: set[tuple[str, str]] = set()
    seen_tokens: set[str] = set()
    controls: dict[tuple[int, str], Counter[str]] = defaultdict(Counter)
    for (engineer, kind, key), n in groups.items():
        if kind in ("open", "reply"):
            seen_tokens.add(key)
            ledger.settle(engineer, kind, n, recorded.tokens[key], f"{kind} {key}")
        elif kind in ("answer", "mark"):
            sid, target = key.split("|", 1)
            seen_targets.add((sid, target))
            ledger.settle(engineer, kind, n, recorded.targets[(sid, target)], f"{kind} {key}", at_most=1)
        elif kind == "resolve":
            ledger.settle(engineer, kind, n, recorded.drafts[key], f"resolve {key}")
        elif kind == "confirm":
            ledger.settle(engineer, kind, n, recorded.confirmed[key], f"confirm {key}", at_most=1)
        elif kind == "rate":
            ledger.settle(engineer, kind, n, int(key in recorded.rated), f"rate {key}", at_most=1)
        else:  # pause, resume: what the engineer was told, counted per engineer below
            controls[(engineer, kind)][key] += n
    _count_never_sent(recorded, seen_tokens, seen_targets, ledger.result)
    return controls


def _count_never_sent(
    recorded: _Recorded, seen_tokens: set[str], seen_targets: set[tuple[str, str]], result: Result
) -> None:
    """Steps nobody sent (or sent once and recorded twice under another key) are duplicates too."""
    for token, n in recorded.tokens.items():
        if token not in seen_tokens:
            result.duplicate += n
            result.duplicate_detail.append(f"recorded {token} that was never sent")
    for (sid, what), n in recorded.targets.items():
        if (sid, what) not in seen_targets:
            result.duplicate += n
            result.duplicate_detail.append(f"recorded {sid}|{what} that was never sent")


# ── what each engineer was shown ─────────────────────────────────────────────────────────────────────
def _settle_shown(
    soak: Soak, engineer: int, controls: dict[tuple[int, str], Counter[str]], ledger: _Ledger
) -> None:
    """Settle the engineer's pauses and resumes against the notices they were shown, then match what of
    theirs was not recorded against the refusals they were shown; the rest is lost."""
    result = ledger.result
    texts = _shown_texts(soak, engineer)
    shown: Counter[str] = Counter()
    for text in texts:
        kind = classify(text)
        shown[kind] += 1
        if kind == "error":
            result.error_notices[text[:80]] += 1
        elif kind == "other":
            result.other_notices[text[:80]] += 1
    for control, notice in SUCCESS_NOTICES.items():
        sent = sum(controls.get((engineer, control), Counter()).values())
        confirmed_by = sum(1 for t in texts if t == notice)
        ledger.settle(engineer, control, sent, confirmed_by, f"{control} by engineer {engineer}")
    _match_refusals(engineer, ledger.outcomes[engineer].unrecorded, shown, result)


def _shown_texts(soak: Soak, engineer: int) -> list[str]:
    """The ephemerals the engineer was shown, and the refusals and errors posted in their threads."""
    channel = f"CSOAK{engineer:05d}"
    texts = [str(e.get("text") or "") for e in soak.slack.ephemerals(channel)]
    # Notices posted in the thread (a busy session, an error with Retry) are bot messages with a notice.
    for message in soak.slack.messages(channel):
        text = str(message.get("text") or "")
        if classify(text) in ("question", "action", "state", "error"):
            texts.append(text)
    return texts


def _match_refusals(engineer: int, out: Counter[str], shown: Counter[str], result: Result) -> None:
    """Refusals that can only explain one kind of input first, then the general ones; the rest is lost."""
    matched_q = min(out["answer"], shown["question"])
    matched_a = min(out["mark"], shown["action"])
    rest = sum(out.values()) - matched_q - matched_a
    general = shown["state"] + shown["error"]
    matched_g = min(rest, general)
    if matched_q:
        result.refused["question answered or closed"] += matched_q
    if matched_a:
        result.refused["step marked or closed"] += matched_a
    if matched_g:
        result.refused["session paused / not active / busy"] += matched_g
    lost = rest - matched_g
    if lost:
        result.lost += lost
        kinds = ", ".join(f"{k} {n}" for k, n in out.items() if n)
        result.lost_detail.append(f"engineer {engineer}: {lost} of ({kinds}) not recorded and not refused")
    result.extra_refusals += shown["question"] - matched_q + shown["action"] - matched_a + general - matched_g


def _json(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str) else value
