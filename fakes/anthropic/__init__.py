"""A fake of the Anthropic Messages API that speaks the real wire format.

Tests and benchmarks point the real `anthropic` SDK at it (`base_url=fake.base_url`), so everything the SDK
does on the wire — headers, retries on 429/5xx with `retry-after`, SSE parsing, usage fields — is exercised
for real. Answers are scripted with a FIFO queue (`queue_turn`, `queue_text`, `queue_error`,
`queue_cut_stream`), streamed ones at a pace of their own (a delay per chunk, a `Hold` on the last one); when the queue is empty a deterministic responder answers plausibly, so a human trying
the product against the fake sees a sensible troubleshooting conversation.

The package, by idea: `server` (the HTTP server, scripting and recording), `validation` (what the API
refuses), `caching` (usage and prompt caching), `streaming` (the SSE answer and cut connections), `script`
(the scripted answers), `records` (what was received) and `responder` (the default answers).
"""

from fakes.anthropic.records import RecordedRequest
from fakes.anthropic.script import Hold
from fakes.anthropic.server import FakeAnthropic

__all__ = ["FakeAnthropic", "Hold", "RecordedRequest"]
