"""The soak's settings (`Config`), one input as sent (`Sent`) and what a run found (`Result`)."""

from __future__ import annotations

import re
import time
from collections import Counter
from dataclasses import dataclass, field

from adapters.slack.commands import DOUBLE_CLICK_SECONDS

from .. import harness as h

TOKEN = re.compile(r"zz[a-z0-9]+zz")
PROBLEMS = (
    "the printer on the second floor is offline at Contoso",
    "the VPN drops every few minutes at Northwind on LAPTOP-042",
    "Outlook keeps asking for the password at Fabrikam",
    "internal names do not resolve, DNS looks wrong at Tailspin",
    "users say everything is slow this morning at Litware",
)
REPLIES = (
    "checked it, same result",
    "rebooted the machine, no change",
    "the event log shows nothing around that time",
    "it works for another user on the same desk",
    "cleared the cache and tried again",
)
# How an engineer spends their next move (the rest of the time they answer the latest question).
MOVES = (("answer", 0.48), ("mark", 0.20), ("reply", 0.18), ("pause", 0.07), ("resolve", 0.07))
TURN_KINDS = ("open", "reply", "answer", "mark")
CONTROL_KINDS = ("pause", "resume", "resolve", "confirm", "rate")
HEADER_BUTTONS = ("fp_pause", "fp_resume", "fp_resolve", "fp_escalate", "fp_edit_triage")
# The server drops a click of a button the same person clicked less than DOUBLE_CLICK_SECONDS before (measured
# from the previous press it accepted, when it handles the click, after the ack and its admission): a double
# click. A later click of it is a request of its own. The engineers keep this far from that boundary, so that
# the queueing between the ack and the server's check cannot change which of the two a click is: a click
# again sooner than DOUBLE_CLICK_SECONDS - MARGIN is a double click, none comes in the MARGIN either side.
MARGIN = 0.75


@dataclass
class Config:
    sessions: int = 100  # engineers working at once, each in a channel of their own
    seconds: float = 180.0
    seed: int = 1
    claude_latency: tuple[float, float] = (0.2, 1.5)
    think: tuple[float, float] = (1.0, 6.0)
    double_click: float = 0.15  # a click sent twice at once (the same payload)
    retry: float = 0.15  # an event delivered again with X-Slack-Retry-Num (the same event_id)
    mention_reply: float = 0.10  # a reply that @mentions the bot: delivered as app_mention and as message
    act_while_paused: float = 0.3
    # An answer or a mark clicked again on the message as it was (before the app updated it), 0.1-0.6 s later:
    # a slow double click, which the server drops.
    click_again: float = 0.1
    sample_every: float = 5.0  # seconds between two RSS samples
    wait_timeout: float = 60.0  # how long an engineer waits for a reply before giving up on it
    settle_timeout: float = 120.0  # how long the turns in flight may take to finish at the end

    @property
    def ramp(self) -> float:
        """Engineers start over the first few seconds, not all in the same millisecond."""
        return min(10.0, self.seconds / 6)


# ── what was sent ────────────────────────────────────────────────────────────────────────────────────
@dataclass
class Sent:
    """One distinct input of an engineer (a double click or a retried event is still one input)."""

    kind: str  # open, reply, answer, mark (recorded as steps); pause, resume, resolve, confirm, rate
    engineer: int
    token: str = ""  # open, reply: the marker in the text
    sid: str = ""  # clicks: the session id in the button's value
    target: str = ""  # answer, mark: the question or step id ("<turn step>.q1"), unique per session
    at: float = field(default_factory=time.time)  # when it was sent (a click's action_ts)


@dataclass
class Result:
    """What one soak run found; `table()` prints it."""

    config: Config
    engineers: int = 0
    sessions_opened: int = 0
    inputs: Counter[str] = field(default_factory=Counter)
    duplicates_sent: Counter[str] = field(default_factory=Counter)
    engineer_steps: int = 0
    claude_answers: int = 0
    recorded: int = 0
    lost: int = 0
    lost_detail: list[str] = field(default_factory=list)
    duplicate: int = 0
    duplicate_detail: list[str] = field(default_factory=list)
    refused: Counter[str] = field(default_factory=Counter)
    extra_refusals: int = 0
    statuses: Counter[int] = field(default_factory=Counter)
    transport_errors: int = 0
    error_notices: Counter[str] = field(default_factory=Counter)
    other_notices: Counter[str] = field(default_factory=Counter)
    stuck: list[str] = field(default_factory=list)
    inconsistent: list[str] = field(default_factory=list)
    timeouts: Counter[str] = field(default_factory=Counter)
    # Buttons clicked again as a new input (later than the double-click window), by kind.
    clicked_again: Counter[str] = field(default_factory=Counter)
    statuses_at_end: Counter[str] = field(default_factory=Counter)
    # Sessions no turn holds whose turn_in_flight is the JSON value null rather than SQL NULL (fixed in
    # 011413d; the recovery sweep would take them for unfinished turns).
    turn_json_null: list[str] = field(default_factory=list)
    # The server's own log: errors (and tracebacks) count as errors; warnings are listed.
    log_errors: Counter[str] = field(default_factory=Counter)
    log_warnings: Counter[str] = field(default_factory=Counter)
    rss: list[tuple[float, int]] = field(default_factory=list)
    rss_after_settle: int = 0
    acks: list[float] = field(default_factory=list)
    settle_seconds: float = 0.0
    settled: bool = True

    @property
    def http_5xx(self) -> int:
        return sum(n for status, n in self.statuses.items() if status >= 500)

    @property
    def errors(self) -> int:
        """5xx and other non-200 answers, requests with no answer, and error notices shown to engineers."""
        non_200 = sum(n for status, n in self.statuses.items() if status != 200)
        return (
            non_200 + self.transport_errors + sum(self.error_notices.values()) + sum(self.log_errors.values())
        )

    @property
    def failed(self) -> bool:
        return bool(
            self.lost
            or self.duplicate
            or self.errors
            or self.stuck
            or self.inconsistent
            or self.turn_json_null
            or not self.settled
        )

    def rss_at(self, when: float) -> int:
        if not self.rss:
            return 0
        return min(self.rss, key=lambda s: abs(s[0] - when))[1]

    def slope_mb_per_min(self) -> float:
        """Least-squares slope of RSS over the second half of the load, in MB per minute."""
        half = [(t, b) for t, b in self.rss if t >= self.config.seconds / 2]
        if len(half) < 2:
            return float("nan")
        mt = sum(t for t, _ in half) / len(half)
        mb = sum(b for _, b in half) / len(half)
        den = sum((t - mt) ** 2 for t, _ in half)
        if den == 0:
            return float("nan")
        slope = sum((t - mt) * (b - mb) for t, b in half) / den  # bytes per second
        return slope * 60 / 2**20

    def rss_series(self) -> str:
        return " ".join(f"{t:.0f}s:{b / 2**20:.0f}" for t, b in self.rss)

    def table(self) -> str:
        mb = 2**20
        start, middle = self.rss_at(0), self.rss_at(self.config.seconds / 2)
        end = self.rss[-1][1] if self.rss else 0
        sent = sum(self.inputs.values())
        kinds = ", ".join(f"{k} {self.inputs[k]}" for k in (*TURN_KINDS, *CONTROL_KINDS) if self.inputs[k])
        dups = ", ".join(f"{k} {n}" for k, n in sorted(self.duplicates_sent.items()))
        refused = ", ".join(f"{k} {n}" for k, n in sorted(self.refused.items()))
        non_200 = {s: n for s, n in self.statuses.items() if s != 200}
        errors = (
            f"{self.errors} (5xx {self.http_5xx}, other non-200 {sum(non_200.values()) - self.http_5xx}, "
            f"no answer {self.transport_errors}, error notices {sum(self.error_notices.values())}, "
            f"errors in the server log {sum(self.log_errors.values())})"
        )
        rows = [
            ("sessions", f"{self.engineers} engineers at once, {self.sessions_opened} sessions opened"),
            ("inputs sent (distinct)", f"{sent} ({kinds})"),
            ("duplicates sent", f"{sum(self.duplicates_sent.values())} ({dups or 'none'})"),
            (
                "turns recorded",
                f"{self.engineer_steps} engineer steps, {self.claude_answers} Claude answers; "
                f"{self.recorded} of {sent} inputs took effect",
            ),
            ("lost", str(self.lost)),
            ("duplicate", str(self.duplicate)),
            (
                "refused with a message",
                f"{sum(self.refused.values())} ({refused or 'none'}); "
                f"refusals explaining no input: {self.extra_refusals}",
            ),
            ("errors / 5xx", errors),
            (
                "sessions stuck with a lease / inconsistent",
                f"{len(self.stuck)} / {len(self.inconsistent) + len(self.turn_json_null)} (end: "
                + ", ".join(f"{k} {n}" for k, n in sorted(self.statuses_at_end.items()))
                + ")",
            ),
            (
                "RSS start / middle / end",
                f"{start / mb:.0f} / {middle / mb:.0f} / {end / mb:.0f} MB "
                f"(after the turns in flight finished: {self.rss_after_settle / mb:.0f} MB)",
            ),
            (
                "RSS second half",
                f"{(end - middle) / mb:+.1f} MB, slope {self.slope_mb_per_min():+.2f} MB/min",
            ),
            ("ack latency", h.summary_ms(self.acks) + f" ({len(self.acks)} requests)"),
        ]
        lines = ["| metric | value |", "| --- | --- |", *(f"| {k} | {v} |" for k, v in rows)]
        return "\n".join(lines)

    def notes(self) -> str:
        out = []
        if self.extra_refusals:
            out.append(f"refusal messages with no unrecorded input to explain them: {self.extra_refusals}")
        if self.timeouts:
            out.append(
                "engineers who gave up waiting: " + ", ".join(f"{k} {n}" for k, n in self.timeouts.items())
            )
        if self.other_notices:
            out.append("other notices: " + ", ".join(f"{k!r} x{n}" for k, n in self.other_notices.items()))
        if self.error_notices:
            out.append("error notices: " + ", ".join(f"{k!r} x{n}" for k, n in self.error_notices.items()))
        for title, logged in (
            ("server log errors", self.log_errors),
            ("server log warnings", self.log_warnings),
        ):
            if logged:
                out.append(f"{title}: " + "; ".join(f"{k!r} x{n}" for k, n in logged.most_common(10)))
        if self.clicked_again:
            out.append(
                f"buttons clicked again more than {DOUBLE_CLICK_SECONDS + MARGIN:g} s after their previous "
                "accepted press (new inputs, in the counts above): "
                + ", ".join(f"{k} {n}" for k, n in sorted(self.clicked_again.items()))
            )
        if self.turn_json_null:
            out.append(
                f"{len(self.turn_json_null)} sessions, free, have turn_in_flight = JSON null instead of SQL "
                "NULL: `turn_in_flight IS NOT NULL` matches them, so the recovery sweep and the partial index "
                "ix_ai_sessions_turn_in_flight take them for unfinished turns: "
                + "; ".join(self.turn_json_null[:10])
            )
        if not self.settled:
            out.append(f"the turns in flight had not finished after {self.config.settle_timeout:.0f} s")
        for title, items in (
            ("lost", self.lost_detail),
            ("duplicate", self.duplicate_detail),
            ("stuck", self.stuck),
            ("inconsistent", self.inconsistent),
        ):
            if items:
                out.append(f"{title}: " + "; ".join(items[:20]) + (" …" if len(items) > 20 else ""))
        return "\n".join(out)
