"""User-facing strings, kept together so the wording stays consistent across Slack, Teams and the shell."""

SESSION_NOT_FOUND = "I can't find that session. It may have been removed, or it belongs to another workspace."
NOT_ACTIVE = "This session is {status}. {hint}"
PAUSED_HINT = "Resume it first."
CLOSED_HINT = "Start a new session to keep troubleshooting."
ALREADY = "This session is already {status}."
QUESTION_CLOSED = "That question is from an earlier turn and is no longer open."
QUESTION_ANSWERED = "{by} already answered that question: {answer}"
ACTION_UNKNOWN = "That suggested step is from an earlier turn and is no longer open."
ACTION_MARKED = "{by} already marked that step as {outcome}."
EMPTY_MESSAGE = "Your message was empty. Type what you see, or pick one of the answers."
NO_DRAFT = "There is no handoff draft to confirm yet. Ask for one with Resolve or Escalate first."
DRAFT_INCOMPLETE = "The handoff needs at least a root cause and the steps taken before it can be confirmed."
DRAFT_KIND_MISMATCH = "The current draft is for {draft_kind}, not {kind}. Draft again for {kind}."
RATING_RANGE = "Ratings go from 1 to 5."
RATING_NOT_YET = "You can rate a session once it is resolved or escalated."
EVIDENCE_RANGE = "There is no evidence item {index}; the header lists {count}."
TRIAGE_UNKNOWN_FIELD = "I can't edit '{field}'. Editable fields: {fields}."
TAKEOVER_NOT_FOR_YOU = "This escalation was sent to {name}; only they can take it over."
TAKEOVER_NOT_ESCALATED = "Only an escalated session can be taken over."
BUSY = "FlowPilot is still working on the previous turn of this session. Try again in a moment."
RATE_LIMITED = (
    "{who} reached FlowPilot's limit of {count} {what} a minute, so nothing was asked of Claude. "
    "Try again in {seconds} s."
)
EVIDENCE_FULL = (
    "The header holds at most {limit} evidence items and has {count}, so the {adding} new one(s) were not "
    "added and nothing was changed. Mark the items that matter confirmed or ruled out, or sum several up "
    "in the hypothesis."
)
ALREADY_RATED = "This session was rated {rating}/5 already; that rating stays."
QUEUED = "Still working on your previous message — this one is next."
JOINED = "Still working on your previous message — this one joins the next turn, with your others."
JOINED_LOST = "The {count} message(s) you sent while waiting were not recorded either: send them again."
CLAUDE_DOWN = "Claude is not answering right now ({reason}). Nothing was lost: press Retry to try again."
CLAUDE_BAD_OUTPUT = (
    "Claude's answer came back malformed twice, so I left the session as it was. Press Retry to ask again."
)
CLAUDE_NOT_CONFIGURED = (
    "FlowPilot can't ask Claude yet: its administrator has to set ANTHROPIC_API_KEY and restart it. "
    "Nothing was started or changed."
)
INTERRUPTED = "The previous turn was interrupted (FlowPilot restarted). Press Retry to get Claude's answer."
DRAFT_INTERRUPTED = (
    "The handoff draft was cut off when FlowPilot restarted and was not saved. Press Retry to write it again."
)
DRAFT_INTERRUPTED_AGAIN = (
    "The earlier handoff draft was cut off when FlowPilot restarted; writing it again now."
)
DRAFT_STOPPED = (
    "The handoff draft was stopped before it was finished and was not saved. Press Retry to write it again."
)
TURN_STOPPED = "The previous turn was stopped before Claude answered. Press Retry to get Claude's answer."
NOTHING_TO_RETRY = "There is nothing to retry: Claude has answered everything so far."
SHUTTING_DOWN = "FlowPilot is restarting. Your session is safe; try again in a moment."
PAUSED = "Session paused. Resume it when you are back."
RESUMED = "Session resumed."
ABANDONED = "Session closed without a resolution."
RATED = "Thanks for rating this session {rating}/5."
DRAFT_DISCARDED = "Draft discarded. The session is still open."
TOOK_OVER = "{name} took over this session."
WAITING_FOR_ANSWERS = "Got it. {remaining} more question(s) open — answer them or reply to continue."
TRIAGE_UPDATED = "Triage header updated."
DATABASE_BUSY = "FlowPilot is very busy right now. Nothing was lost; try again in a moment."
DATABASE_DOWN = "FlowPilot can't reach its database right now. Nothing was lost; try again in a moment."
INTERNAL_ERROR = "Something went wrong on FlowPilot's side (logged as {ref}). Nothing was lost; try again."
