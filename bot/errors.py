"""The core's exceptions: each carries a message an engineer can act on."""

from __future__ import annotations


class FlowPilotError(Exception):
    """Base of every error the core reports to the user; `str(err)` is safe to show."""

    code = "error"
    retryable = False
    # Told only to the engineer who sent the command (Slack: ephemeral), not in the session's thread.
    private = False

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class IntakeError(FlowPilotError):
    """The engineer's input cannot be used as it is (empty, binary, not an image, too large)."""

    code = "bad_input"
    private = True  # a refusal of what this engineer sent: nobody else in the thread needs it


class NotFound(FlowPilotError):
    code = "not_found"
    private = True  # a refusal of what this engineer sent: nobody else in the thread needs it


class Forbidden(FlowPilotError):
    code = "forbidden"
    private = True  # a refusal of what this engineer sent: nobody else in the thread needs it


class InvalidTransition(FlowPilotError):
    """The command is not allowed in the session's current state."""

    code = "invalid_transition"
    private = True  # a refusal of what this engineer sent: nobody else in the thread needs it


class AlreadyAnswered(InvalidTransition):
    code = "already_answered"


class SessionBusy(FlowPilotError):
    """Another turn held the session for longer than we are willing to wait."""

    code = "busy"
    retryable = True


class NotConfigured(FlowPilotError):
    """FlowPilot cannot do this until its administrator sets it up (no Claude key): retrying cannot help."""

    code = "not_configured"
    private = True


class RateLimited(FlowPilotError):
    """Too many new sessions or Claude turns in the last minute; nothing was asked of Claude."""

    code = "rate_limited"
    retryable = True


class ClaudeUnavailable(FlowPilotError):
    """Claude could not be reached or kept failing; the turn can be retried."""

    code = "claude_unavailable"
    retryable = True


class ClaudeBadOutput(FlowPilotError):
    """Claude's answer broke the schema twice; nothing was changed."""

    code = "claude_bad_output"
    retryable = True


class ShuttingDown(FlowPilotError):
    code = "shutting_down"
    retryable = True


class DatabaseUnavailable(FlowPilotError):
    """PostgreSQL could not be reached; nothing was changed."""

    code = "database_unavailable"
    retryable = True


class InternalError(FlowPilotError):
    """A bug on our side; the details are in the log, never shown to the user."""

    code = "internal_error"
    retryable = True
