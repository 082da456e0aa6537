"""A separate process that sends the bench's signed requests and times their answers.

The bench process also runs the fake Slack and Anthropic servers; under hundreds of concurrent sessions
their work delays its own event loop, and an ack timed there would include that wait. Here nothing else
runs: a request is timed from when it goes out to when its answer is in, as Slack would see it.

Protocol: one JSON object per line on stdin, {"id", "url", "body", "headers"}; one per line on stdout,
{"id", "status", "elapsed"} (seconds), in the order answers arrive.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from typing import Any

import aiohttp


async def main() -> None:
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    connector = aiohttp.TCPConnector(limit=1000)
    tasks: set[asyncio.Task[None]] = set()
    async with aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=60)) as http:

        async def send(request: dict[str, Any]) -> None:
            started = time.perf_counter()
            try:
                async with http.post(
                    request["url"], data=request["body"].encode(), headers=request["headers"]
                ) as r:
                    await r.read()
                    status = r.status
            except aiohttp.ClientError:
                status = 0
            answer = {"id": request["id"], "status": status, "elapsed": time.perf_counter() - started}
            sys.stdout.write(json.dumps(answer) + "\n")
            sys.stdout.flush()

        while line := await reader.readline():
            task = asyncio.create_task(send(json.loads(line)))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
        if tasks:
            await asyncio.wait(tasks)


if __name__ == "__main__":
    asyncio.run(main())
