"""What the real Messages API refuses with 400 invalid_request_error, worded in its style (`field: problem`).

`validate` runs a table of checks in the order the API reports them; each check names the first problem it
finds in the body, or None.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

# The content block types the real API accepts in a request; anything else is a 400.
KNOWN_BLOCK_TYPES = frozenset(
    {
        "text", "image", "document", "search_result", "tool_use", "tool_result", "thinking",
        "redacted_thinking", "server_tool_use", "web_search_tool_result", "web_fetch_tool_result",
        "code_execution_tool_result", "container_upload", "mcp_tool_use", "mcp_tool_result",
    }
)  # fmt: skip

# anthropic 2.x also has a "system" role for instructions placed between turns.
_ROLES = ("user", "assistant", "system")


class RequestInvalid(Exception):
    """A request the real API would refuse with 400 invalid_request_error."""


def validate(body: Any) -> None:
    """Refuse what the real API refuses: raise RequestInvalid with its message for the first problem."""
    if not isinstance(body, dict):
        raise RequestInvalid("There was an error parsing the body of your request: expected a JSON object")
    for check in _CHECKS:
        problem = check(body)
        if problem is not None:
            raise RequestInvalid(problem)


def target_tool(body: dict[str, Any]) -> dict[str, Any] | None:
    """The tool the model would call: the forced one, else the first; None when it cannot call any."""
    tools = body.get("tools") or []
    choice = body.get("tool_choice") or {}
    if not tools or choice.get("type") == "none":
        return None
    if choice.get("type") == "tool":
        forced: dict[str, Any] = next(tool for tool in tools if tool.get("name") == choice["name"])
        return forced
    first: dict[str, Any] = tools[0]
    return first


# -- the checks, in the order the API reports them --


def _required(body: dict[str, Any]) -> str | None:
    missing = next((field for field in ("model", "max_tokens", "messages") if field not in body), None)
    return None if missing is None else f"{missing}: Field required"


def _model(body: dict[str, Any]) -> str | None:
    model = body["model"]
    return None if isinstance(model, str) and model else "model: Input should be a valid string"


def _max_tokens(body: dict[str, Any]) -> str | None:
    value = body["max_tokens"]
    if isinstance(value, int) and not isinstance(value, bool) and value >= 1:
        return None
    return "max_tokens: Input should be greater than or equal to 1"


def _messages_list(body: dict[str, Any]) -> str | None:
    if not isinstance(body["messages"], list):
        return "messages: Input should be a valid list"
    return None if body["messages"] else "messages: at least one message is required"


def _each_message(body: dict[str, Any]) -> str | None:
    problems = (_message_problem(i, message) for i, message in enumerate(body["messages"]))
    return next((problem for problem in problems if problem is not None), None)


def _message_problem(i: int, message: Any) -> str | None:
    """The first problem with the message at index `i`: its role, its content, or one of its blocks."""
    role = message.get("role") if isinstance(message, dict) else None
    if role not in _ROLES:
        return f"messages.{i}.role: Input should be 'user', 'assistant' or 'system' (got {role!r})"
    content = message.get("content")
    if isinstance(content, str):
        return None
    if not isinstance(content, list):
        return f"messages.{i}.content: Input should be a valid string or list"
    allowed = {"text"} if role == "system" else KNOWN_BLOCK_TYPES
    for j, block in enumerate(content):
        kind = block.get("type") if isinstance(block, dict) else None
        if kind not in allowed:
            expected = ", ".join(f"'{t}'" for t in sorted(allowed))
            return (
                f"messages.{i}.content.{j}.type: Input tag {kind!r} found using 'type' does not match "
                f"any of the expected tags: {expected}"
            )
    return None


def _first_role(body: dict[str, Any]) -> str | None:
    if body["messages"][0]["role"] != "user":
        return 'messages: first message must use the "user" role'
    return None


def _forced_tool_exists(body: dict[str, Any]) -> str | None:
    choice = body.get("tool_choice")
    if not (isinstance(choice, dict) and choice.get("type") == "tool"):
        return None
    names = {tool.get("name") for tool in body.get("tools") or [] if isinstance(tool, dict)}
    if choice.get("name") in names:
        return None
    return f"tool_choice.name: Tool '{choice.get('name')}' not found in provided tools"


def _any_tool_needs_tools(body: dict[str, Any]) -> str | None:
    choice = body.get("tool_choice")
    if isinstance(choice, dict) and choice.get("type") == "any" and not body.get("tools"):
        return "tool_choice: tool_choice.type 'any' requires tools to be provided"
    return None


_CHECKS: tuple[Callable[[dict[str, Any]], str | None], ...] = (
    _required,
    _model,
    _max_tokens,
    _messages_list,
    _each_message,
    _first_role,
    _forced_tool_exists,
    _any_tool_needs_tools,
)
