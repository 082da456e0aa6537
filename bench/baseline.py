"""The baseline: the minimal LLM Slack bot anyone could write — ack, one Claude call, one post. No database.

Run as `python -m bench.baseline` with SLACK_BOT_TOKEN, SLACK_SIGNING_SECRET, SLACK_API_URL,
ANTHROPIC_API_KEY, ANTHROPIC_BASE_URL and PORT set (the bench does this).
"""

import os
from typing import Any

from anthropic import AsyncAnthropic
from slack_bolt.async_app import AsyncApp
from slack_sdk.web.async_client import AsyncWebClient

claude = AsyncAnthropic(max_retries=0)
token = os.environ["SLACK_BOT_TOKEN"]
app = AsyncApp(
    token=token,
    signing_secret=os.environ["SLACK_SIGNING_SECRET"],
    client=AsyncWebClient(token=token, base_url=os.environ["SLACK_API_URL"]),
)


async def answer(event: dict[str, Any], client: AsyncWebClient) -> None:
    reply = await claude.messages.create(
        model="claude-test", max_tokens=1024, messages=[{"role": "user", "content": event["text"]}]
    )
    text = "".join(block.text for block in reply.content if block.type == "text")
    await client.chat_postMessage(
        channel=event["channel"], thread_ts=event.get("thread_ts") or event["ts"], text=text
    )


app.event("app_mention")(answer)
app.event("message")(answer)

if __name__ == "__main__":
    app.start(port=int(os.environ["PORT"]), path="/slack/events")
