"""Block Kit validation: Slack's documented limits, and its error wording (``<problem> [json-pointer:/path]``).

Messages answer ``invalid_blocks`` with these errors and views ``invalid_arguments``, so a test fails where
production would.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

MESSAGE_MAX_BLOCKS = 50
VIEW_MAX_BLOCKS = 100
MESSAGE_MAX_TEXT = 40_000
STREAM_MAX_MARKDOWN = 12_000

# Block types Slack accepts that this fake does not look inside.
_OPAQUE_BLOCKS = {"file", "video", "table", "plan", "task_card", "card", "carousel", "call", "alert"}
_SELECTS = {
    "static_select",
    "multi_static_select",
    "external_select",
    "multi_external_select",
    "users_select",
    "multi_users_select",
    "conversations_select",
    "multi_conversations_select",
    "channels_select",
    "multi_channels_select",
}
_ELEMENTS = _SELECTS | {
    "button",
    "overflow",
    "datepicker",
    "timepicker",
    "datetimepicker",
    "checkboxes",
    "radio_buttons",
    "plain_text_input",
    "rich_text_input",
    "number_input",
    "email_text_input",
    "url_text_input",
    "file_input",
    "image",
    "workflow_button",
    "feedback_buttons",
    "icon_button",
}


class _BlockKit:
    """Collects Block Kit errors for one surface, worded as Slack does: ``<problem> [json-pointer:/path]``."""

    def __init__(self) -> None:
        self.errors: list[str] = []
        self._action_ids: set[str] = set()
        self._block_ids: set[str] = set()

    def fail(self, problem: str, pointer: str) -> None:
        self.errors.append(f"{problem} [json-pointer:{pointer}]")

    def string(self, value: Any, pointer: str, *, limit: int, required: bool = False) -> None:
        if value is None:
            if required:
                self.fail("missing required field", pointer)
        elif not isinstance(value, str):
            self.fail("must be a string", pointer)
        elif len(value) > limit:
            self.fail(f"must be less than {limit + 1} characters", pointer)

    def array(self, value: Any, pointer: str, *, limit: int, minimum: int = 0) -> list[Any]:
        if not isinstance(value, list):
            self.fail("must be an array", pointer)
            return []
        if len(value) > limit:
            self.fail(f"must be less than {limit + 1} items", pointer)
        if len(value) < minimum:
            self.fail(f"must provide at least {minimum} items", pointer)
        return value

    def text(self, obj: Any, pointer: str, *, limit: int, plain: bool = False, required: bool = True) -> None:
        if obj is None:
            if required:
                self.fail("missing required field", pointer)
            return
        if not isinstance(obj, dict):
            self.fail("must provide an object", pointer)
            return
        allowed = ("plain_text",) if plain else ("plain_text", "mrkdwn")
        if obj.get("type") not in allowed:
            self.fail(f"must be one of: {', '.join(allowed)}", f"{pointer}/type")
        text = obj.get("text")
        if not isinstance(text, str) or not text:
            self.fail("must be more than 0 characters", f"{pointer}/text")
        elif len(text) > limit:
            self.fail(f"must be less than {limit + 1} characters", f"{pointer}/text")

    # -- blocks ---------------------------------------------------------------------------------------

    def blocks(self, blocks: Any, pointer: str, *, limit: int) -> None:
        for i, block in enumerate(self.array(blocks, pointer, limit=limit)):
            self.block(block, f"{pointer}/{i}")

    def block(self, block: Any, pointer: str) -> None:
        if not isinstance(block, dict):
            self.fail("must provide an object", pointer)
            return
        block_id = block.get("block_id")
        if block_id is not None:
            self.string(block_id, f"{pointer}/block_id", limit=255)
            if block_id in self._block_ids:
                self.fail(f"duplicate block_id: {block_id}", f"{pointer}/block_id")
            self._block_ids.add(block_id)
        kind = block.get("type")
        check = getattr(self, f"_block_{kind}", None) if isinstance(kind, str) else None
        if check is not None:
            check(block, pointer)
        elif kind not in _OPAQUE_BLOCKS:
            self.fail(f"unsupported block type: {kind}", f"{pointer}/type")

    def _block_section(self, block: dict[str, Any], pointer: str) -> None:
        if block.get("text") is None and block.get("fields") is None:
            self.fail("must provide either text or fields", pointer)
        self.text(block.get("text"), f"{pointer}/text", limit=3000, required=False)
        if block.get("fields") is not None:
            for i, item in enumerate(self.array(block["fields"], f"{pointer}/fields", limit=10)):
                self.text(item, f"{pointer}/fields/{i}", limit=2000)
        if block.get("accessory") is not None:
            self.element(block["accessory"], f"{pointer}/accessory")

    def _block_header(self, block: dict[str, Any], pointer: str) -> None:
        self.text(block.get("text"), f"{pointer}/text", limit=150, plain=True)

    def _block_context(self, block: dict[str, Any], pointer: str) -> None:
        elements = self.array(block.get("elements"), f"{pointer}/elements", limit=10, minimum=1)
        for i, item in enumerate(elements):
            if isinstance(item, dict) and item.get("type") == "image":
                self._image(item, f"{pointer}/elements/{i}")
            else:
                self.text(item, f"{pointer}/elements/{i}", limit=3000)

    def _block_actions(self, block: dict[str, Any], pointer: str) -> None:
        elements = self.array(block.get("elements"), f"{pointer}/elements", limit=25, minimum=1)
        for i, item in enumerate(elements):
            self.element(item, f"{pointer}/elements/{i}")

    def _block_context_actions(self, block: dict[str, Any], pointer: str) -> None:
        elements = self.array(block.get("elements"), f"{pointer}/elements", limit=5, minimum=1)
        for i, item in enumerate(elements):
            self.element(item, f"{pointer}/elements/{i}")

    def _block_divider(self, block: dict[str, Any], pointer: str) -> None:
        pass

    def _block_image(self, block: dict[str, Any], pointer: str) -> None:
        self._image(block, pointer)
        self.text(block.get("title"), f"{pointer}/title", limit=2000, plain=True, required=False)

    def _block_input(self, block: dict[str, Any], pointer: str) -> None:
        self.text(block.get("label"), f"{pointer}/label", limit=2000, plain=True)
        self.text(block.get("hint"), f"{pointer}/hint", limit=2000, plain=True, required=False)
        if block.get("element") is None:
            self.fail("missing required field", f"{pointer}/element")
        else:
            self.element(block["element"], f"{pointer}/element")

    def _block_markdown(self, block: dict[str, Any], pointer: str) -> None:
        self.string(block.get("text"), f"{pointer}/text", limit=12_000, required=True)

    def _block_rich_text(self, block: dict[str, Any], pointer: str) -> None:
        self.array(block.get("elements"), f"{pointer}/elements", limit=10_000)

    def _image(self, image: dict[str, Any], pointer: str) -> None:
        if image.get("image_url") is None and image.get("slack_file") is None:
            self.fail("must provide either image_url or slack_file", pointer)
        self.string(image.get("image_url"), f"{pointer}/image_url", limit=3000)
        self.string(image.get("alt_text"), f"{pointer}/alt_text", limit=2000, required=True)

    # -- elements -------------------------------------------------------------------------------------

    def element(self, element: Any, pointer: str) -> None:
        if not isinstance(element, dict):
            self.fail("must provide an object", pointer)
            return
        kind = element.get("type")
        if kind not in _ELEMENTS:
            self.fail(f"unsupported element type: {kind}", f"{pointer}/type")
            return
        action_id = element.get("action_id")
        if action_id is not None:
            self.string(action_id, f"{pointer}/action_id", limit=255)
            if action_id in self._action_ids:
                self.fail(f"duplicate action_id: {action_id}", f"{pointer}/action_id")
            self._action_ids.add(action_id)
        self.text(element.get("placeholder"), f"{pointer}/placeholder", limit=150, plain=True, required=False)
        if element.get("confirm") is not None:
            self._confirm(element["confirm"], f"{pointer}/confirm")
        check = _ELEMENT_CHECKS.get(kind)
        if check is not None:
            check(self, element, pointer)

    def _overflow(self, element: dict[str, Any], pointer: str) -> None:
        self._options(element.get("options"), f"{pointer}/options", limit=5, minimum=1)

    def _choices(self, element: dict[str, Any], pointer: str) -> None:
        self._options(element.get("options"), f"{pointer}/options", limit=10, minimum=1)

    def _static_select(self, element: dict[str, Any], pointer: str) -> None:
        if element.get("options") is None and element.get("option_groups") is None:
            self.fail("must provide either options or option_groups", pointer)
        if element.get("options") is not None:
            self._options(element["options"], f"{pointer}/options", limit=100)
        if element.get("option_groups") is not None:
            groups = self.array(element["option_groups"], f"{pointer}/option_groups", limit=100)
            for i, group in enumerate(groups):
                group_pointer = f"{pointer}/option_groups/{i}"
                if isinstance(group, dict):
                    self.text(group.get("label"), f"{group_pointer}/label", limit=75, plain=True)
                    self._options(group.get("options"), f"{group_pointer}/options", limit=100)

    def _plain_text_input(self, element: dict[str, Any], pointer: str) -> None:
        self.string(element.get("initial_value"), f"{pointer}/initial_value", limit=3000)
        for bound in ("min_length", "max_length"):
            value = element.get(bound)
            if value is not None and (not isinstance(value, int) or not 0 <= value <= 3000):
                self.fail("must be between 0 and 3000", f"{pointer}/{bound}")

    def _button(self, button: dict[str, Any], pointer: str) -> None:
        self.text(button.get("text"), f"{pointer}/text", limit=75, plain=True)
        self.string(button.get("value"), f"{pointer}/value", limit=2000)
        self.string(button.get("url"), f"{pointer}/url", limit=3000)
        self.string(button.get("accessibility_label"), f"{pointer}/accessibility_label", limit=75)
        if button.get("style") not in (None, "primary", "danger"):
            self.fail("must be one of: primary, danger", f"{pointer}/style")

    def _options(self, options: Any, pointer: str, *, limit: int, minimum: int = 0) -> None:
        for i, option in enumerate(self.array(options, pointer, limit=limit, minimum=minimum)):
            option_pointer = f"{pointer}/{i}"
            if not isinstance(option, dict):
                self.fail("must provide an object", option_pointer)
                continue
            self.text(option.get("text"), f"{option_pointer}/text", limit=75)
            self.string(option.get("value"), f"{option_pointer}/value", limit=150)
            self.text(option.get("description"), f"{option_pointer}/description", limit=75, required=False)

    def _confirm(self, confirm: Any, pointer: str) -> None:
        if not isinstance(confirm, dict):
            self.fail("must provide an object", pointer)
            return
        self.text(confirm.get("title"), f"{pointer}/title", limit=100, plain=True)
        self.text(confirm.get("text"), f"{pointer}/text", limit=300)
        self.text(confirm.get("confirm"), f"{pointer}/confirm", limit=30, plain=True)
        self.text(confirm.get("deny"), f"{pointer}/deny", limit=30, plain=True)

    # -- views ----------------------------------------------------------------------------------------

    def view(self, view: Any) -> None:
        if not isinstance(view, dict):
            self.fail("must provide an object", "/view")
            return
        kind = view.get("type")
        if kind not in ("modal", "home"):
            self.fail("must be one of: modal, home", "/view/type")
        if kind == "modal":
            self.text(view.get("title"), "/view/title", limit=24, plain=True)
            self.text(view.get("submit"), "/view/submit", limit=24, plain=True, required=False)
            self.text(view.get("close"), "/view/close", limit=24, plain=True, required=False)
            blocks = view.get("blocks")
            has_input = isinstance(blocks, list) and any(
                isinstance(b, dict) and b.get("type") == "input" for b in blocks
            )
            if has_input and view.get("submit") is None:
                self.fail("must provide submit when the view has input blocks", "/view/submit")
        self.string(view.get("private_metadata"), "/view/private_metadata", limit=3000)
        self.string(view.get("callback_id"), "/view/callback_id", limit=255)
        self.string(view.get("external_id"), "/view/external_id", limit=255)
        self.blocks(view.get("blocks"), "/view/blocks", limit=VIEW_MAX_BLOCKS)


# What each element type adds to the checks every element gets (action_id, placeholder, confirm).
_ELEMENT_CHECKS: dict[str, Callable[[_BlockKit, dict[str, Any], str], None]] = {
    "image": _BlockKit._image,
    "button": _BlockKit._button,
    "overflow": _BlockKit._overflow,
    "checkboxes": _BlockKit._choices,
    "radio_buttons": _BlockKit._choices,
    "static_select": _BlockKit._static_select,
    "multi_static_select": _BlockKit._static_select,
    "plain_text_input": _BlockKit._plain_text_input,
}


def message_block_errors(blocks: Any) -> list[str]:
    """Slack's `errors` for these message blocks (empty when Slack would accept them)."""
    checker = _BlockKit()
    checker.blocks(blocks, "/blocks", limit=MESSAGE_MAX_BLOCKS)
    return checker.errors


def view_errors(view: Any) -> list[str]:
    """Slack's error messages for this modal or home view (empty when Slack would accept it)."""
    checker = _BlockKit()
    checker.view(view)
    return checker.errors
