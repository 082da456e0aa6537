"""Usage and prompt caching: how the real API bills a request's tokens, and the JSON helpers it needs."""

from __future__ import annotations

import hashlib
import json
from typing import Any

USAGE_KEYS = ("input_tokens", "cache_creation_input_tokens", "cache_read_input_tokens", "output_tokens")

# The real API looks for cache hits at block boundaries up to about 20 blocks before each breakpoint, which
# is what makes "move the breakpoint to the newest message" read the previous turn's cache.
_CACHE_LOOKBACK_BLOCKS = 20


def account(body: dict[str, Any], *, cache: set[str], min_tokens: int) -> dict[str, Any]:
    """Split the prompt's tokens into cache reads, cache writes and uncached input, as the API bills them.

    The prompt is the sequence tools → system → message blocks; a block with `cache_control` is a
    breakpoint, and a prefix is identified by the hash of everything up to it (cache_control stripped).
    `cache` holds the prefixes written so far; the caller holds the lock that guards it.
    """
    # (where the block sits, the block): a tool, a system block, or a message block with its role.
    pieces: list[tuple[str, dict[str, Any]]] = [("tool", tool) for tool in body.get("tools") or []]
    system = body.get("system")
    if isinstance(system, str):
        pieces.append(("system", {"type": "text", "text": system}))
    elif isinstance(system, list):
        pieces += [("system", block) for block in system]
    for message in body["messages"]:
        content = message["content"]
        blocks = [{"type": "text", "text": content}] if isinstance(content, str) else content
        pieces += [(message["role"], block) for block in blocks]

    digest = hashlib.sha256(canonical(body["model"]).encode())
    hashes: list[str] = []
    tokens: list[int] = []  # tokens of the prefix ending at each piece
    chars = 0
    for where, block in pieces:
        text = canonical([where, strip_cache_control(block)])
        digest.update(text.encode() + b"\x00")
        hashes.append(digest.hexdigest())
        chars += len(text)
        tokens.append(chars // 4)
    total = max(1, chars // 4)
    breakpoints = [i for i, (_, block) in enumerate(pieces) if block.get("cache_control")]

    hit = -1
    for bp in breakpoints:
        for i in range(bp, max(-1, bp - _CACHE_LOOKBACK_BLOCKS), -1):
            if i > hit and hashes[i] in cache:
                hit = i
    read = tokens[hit] if hit >= 0 else 0
    created = 0
    for bp in breakpoints:
        if bp > hit and tokens[bp] >= min_tokens:
            cache.add(hashes[bp])
            created = tokens[bp] - read
    one_hour = bool(breakpoints) and pieces[breakpoints[-1]][1]["cache_control"].get("ttl") == "1h"
    return {
        "input_tokens": total - read - created,
        "cache_creation_input_tokens": created,
        "cache_read_input_tokens": read,
        "output_tokens": 0,
        "cache_creation": {
            "ephemeral_5m_input_tokens": 0 if one_hour else created,
            "ephemeral_1h_input_tokens": created if one_hour else 0,
        },
        "service_tier": "standard",
    }


def zero_usage() -> dict[str, int]:
    return dict.fromkeys(USAGE_KEYS, 0)


def canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def strip_cache_control(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: strip_cache_control(v) for k, v in value.items() if k != "cache_control"}
    if isinstance(value, list):
        return [strip_cache_control(v) for v in value]
    return value
