"""What the Slack adapter says to people, kept together."""

HELP = (
    "*FlowPilot* helps you troubleshoot, one session per thread.\n"
    "• `/flowpilot <problem>` starts a session here (or @mention me with the problem, or DM me).\n"
    "• `/flowpilot ticket 12345 [what you see]` starts a session from a ticket of your PSA.\n"
    "• `/flowpilot list` shows your open sessions; `/flowpilot flows` the flows of this workspace, each with "
    "Start.\n"
    "• `/flowpilot status | pause | resume | resolve | escalate` act on your latest open session in this "
    "channel. Inside the thread, use the header buttons or the message shortcuts.\n"
    "• Reply in the session thread to tell me what you see; attach logs or screenshots there."
)
STARTING = "Starting a FlowPilot session…"
TICKET_USAGE = "Give the ticket's number: `/flowpilot ticket 12345 [what you see]`."
THINKING = "⏳ _FlowPilot is thinking…_"
ASSISTANT_THINKING = "is thinking…"
ASSISTANT_DRAFTING = "is writing the handoff…"
NO_SESSION_HERE = "You have no open FlowPilot session in this channel. Start one with `/flowpilot <problem>`."
NO_SESSIONS = "You have no open FlowPilot sessions."
YOUR_SESSIONS = "*Your open sessions*"
OTHER_ANSWER = "Type your answer as a reply in this thread and I'll take it from there."
SLACK_FAILED = "Slack refused part of this reply ({error}). Nothing was lost: press Retry to show it again."
RETRY_TOO_LONG = (
    "Your message was not taken, and it is too long (or carries files) to keep on a Retry button: "
    "please send it again in this thread."
)
TURN_CUT_OFF = " … _(cut off)_"
DRAFT_CUT_OFF = "✂️ _This was cut off when FlowPilot restarted and was not saved (see below)._"
ANSWERED = "*{by}* answered: {answer}"
MARKED_DONE = "✅ *{by}* marked this step done"
MARKED_FAILED = "❌ *{by}*: this step didn't work"
DRAFT_READY = "The {kind} draft is ready. Confirm it, edit it, or discard it."
DRAFT_CONFIRMED = "✅ Confirmed by *{by}*."
DRAFT_DISCARDED = "🗑️ Discarded by *{by}*."
RATE_PROMPT = "How much did FlowPilot help with this session?"
RATED = "⭐ *{by}* rated this session {rating}/5."
STATUS_LINE = {
    "resolved": "✅ *{by}* resolved this session.",
    "escalated": "🆙 *{by}* escalated this session to *{to}*.",
    "requesting_escalation": "🆙 *{by}* asked for another engineer to take this session over.",
    "active": "▶️ *{by}* is working on this session.",
}
ESCALATION_DM_TEXT = "A FlowPilot session was escalated to you."
ESCALATION_DM = "*{by}* escalated a session to you: *{title}*"
ESCALATION_REASON = "*Why:* {reason}"
STATUS_COPY = "The session's buttons are on its header in the thread."
TOOK_OVER = "✅ *{by}* took this session over."
TICKET_NOTE = "*Ticket note* (paste it into the PSA):"
TICKET_NOTE_PREVIEW = "*Ticket note* as Confirm will file it:"
FILE_SKIPPED = "I couldn't download {name} from Slack, so it was left out."
FILE_REFUSED = (
    "I didn't download {name}: its link doesn't point to Slack's own file servers over HTTPS, "
    "so it was left out."
)
START_REFUSED = (
    "Slack refused to post the session's first message ({error}), so nothing was started. Try again."
)
DATABASE_DOWN = (
    "FlowPilot can't reach its database right now, so that wasn't handled. Send it again in a moment."
)
FOREIGN_THREAD = (
    "This thread holds a FlowPilot session of another workspace, so I can't start one here. "
    "Start yours in a new message or with `/flowpilot <problem>`."
)
SLACK_REFUSED = "Slack refused that ({error}). Try again in a moment."
FLOWS_HEADING = "*Flows of this workspace* — Start one to be guided step by step."
NO_FLOWS = "This workspace has no flows yet."
