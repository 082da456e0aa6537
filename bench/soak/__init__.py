"""`python -m bench.soak`: many engineers at once against one `flowpilot serve` for minutes, then an audit.

python -m bench.soak                                  # 100 engineers for 3 minutes
python -m bench.soak --sessions 20 --minutes 0.5 --seed 7

The same set-up as `python -m bench`: the fake Anthropic API (here with a random 0.2-1.5 s latency per
request) and the fake Slack Web API in threads of this process, a fresh PostgreSQL database, and
`flowpilot serve` as a subprocess driven with signed Slack requests. Each simulated engineer works in a
channel of their own: opens a session (an @mention or `/flowpilot <problem>`), then, with a random think
time between moves, clicks answers and "Done" / "Didn't work" on the latest buttons the fake Slack
received, replies in the thread, pauses and resumes, and now and then resolves (Resolve, the draft,
Confirm) and opens a new session. Some clicks are sent twice at once (a double click), some events twice
with `X-Slack-Retry-Num` (Slack's retry of the same event_id), and some replies mention the bot, so Slack
sends them as `app_mention` and `message`. A button clicked again within 1.5 s of its previous accepted press
(the server's double-click window) is a double click too; clicked again later, it is a new input.

At the end, once the turns in flight have finished, every distinct input is looked up in PostgreSQL
(`ai_session_steps`, `ai_sessions`, `session_handoffs`) and in what the engineer was shown: recorded once,
refused with a message (a click on a question already answered or from an earlier turn, input to a paused
session, Pause on a paused session…), lost (neither), or duplicated (recorded more than once). The server's RSS is sampled while the load runs. The exit status is non-zero
when anything was lost or duplicated, a request failed (5xx, another non-200, no answer), an error notice was
shown, or a session was left leased or in an inconsistent state.
"""

from .model import Config, Result, Sent
from .runner import run

__all__ = ["Config", "Result", "Sent", "run"]
