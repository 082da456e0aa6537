"""Mask secrets in pasted text before it is stored, logged or sent to Claude (see `engine`).

The rule tables are in modules by family, the pieces they are made of in `patterns`, the engine that
runs them in `engine`.
"""

from .engine import LogMask, redact
from .patterns import Redaction

__all__ = ["LogMask", "Redaction", "redact"]
