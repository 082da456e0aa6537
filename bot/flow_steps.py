"""A flow guiding a session: starting on one, its button answers (advanced here, with no Claude call), leaving
it, and its ends (Claude takes over, the resolve or escalation draft opens, another flow follows).

On a flow node the session's task lane holds the node as its one question (options as buttons) or its one
suggested action (Done / Didn't work), with ids `flow:<step>:<node>` (bot.flows.track): every surface shows
them with its usual rendering, and an answer to such an id comes here. Other answers go to the conversation.
"""

from __future__ import annotations

import dataclasses
import logging
import uuid
from collections.abc import AsyncIterator
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from storage import notify, raw
from storage.state import SessionState

from . import messages as msg
from .claude_answer import header_changed
from .commands import Actor, AnswerQuestion, DraftHandoff, LeaveFlow, MarkAction, StartSession, UserMessage
from .errors import AlreadyAnswered, InvalidTransition, NotFound
from .events import ActionMarked, AssistantTurn, Event, QuestionAnswered, SessionView, TriageChanged
from .flow_match import FlowMatch
from .flow_text import FlowText
from .flow_turns import FlowConversation
from .flows import track
from .flows.library import FlowLibrary, FlowRef
from .flows.model import Flow
from .flows.runner import (
    AiEnd,
    Answer,
    Ask,
    EscalateEnd,
    FlowError,
    GotoEnd,
    Marked,
    Option,
    ResolutionEnd,
    Step,
    advance,
    enter,
)
from .handoffs import Handoffs
from .lane import Action, Question, TaskLane
from .schemas import HandoffKind
from .session_core import Loaded, Sessions, now, release_with, require_active, touch
from .turn_lease import Turn

logger = logging.getLogger(__name__)

VERSIONS_KEPT = 256  # flow versions a process keeps parsed


class FlowSteps:
    """The commands of a session a flow guides; anything else goes on to the conversation."""

    def __init__(
        self,
        *,
        db: async_sessionmaker[AsyncSession],
        library: FlowLibrary | None,
        sessions: Sessions,
        conversation: FlowConversation,
        handoffs: Handoffs,
        psa_enabled: bool = False,
    ) -> None:
        self.db = db
        self.library = library
        self.sessions = sessions
        self.conversation = conversation
        self._handoffs = handoffs
        self._versions: dict[uuid.UUID, tuple[FlowRef, Flow]] = {}
        self.match = FlowMatch(steps=self)
        self.text = FlowText(steps=self, psa_enabled=psa_enabled)

    # ── starting on a flow ─────────────────────────────────────────────────────────────────────────
    async def start(self, command: StartSession) -> AsyncIterator[Event]:
        """A session that starts on `command.flow`: its first node answers the intake, not Claude."""
        assert command.flow is not None
        library = self._require_library()
        account = await self.sessions.identities.account(None, command.actor, create=True)
        assert account is not None
        found = await library.current(account_id=account.id, slug_or_id=command.flow.strip())
        if found is None:
            raise NotFound(msg.FLOW_NOT_FOUND.format(flow=command.flow.strip()[:100]))
        ref, flow = found
        if command.text.strip() in ("", command.flow.strip()):
            # Started with nothing but the flow's name: its title is the problem the engineer brings.
            command = dataclasses.replace(command, text=ref.title)

        async def first(
            session_id: uuid.UUID, actor: Actor, prefetched: Any, turn: Turn
        ) -> AsyncIterator[Event]:
            loaded: Loaded[SessionState] = prefetched.loaded
            loaded.session.confidence_tier = "guided"
            loaded.session.problem_summary = loaded.session.problem_summary or ref.title
            loaded.session.matched_flow_id = ref.flow_id
            await library.count(ref.version_id, event="started")
            step = enter(flow, ref.version_id)
            async for event in self.arrive(
                loaded, step, ref=ref, actor=actor, turn=turn, before=prefetched.before
            ):
                yield event

        async for event in self.conversation.start(command, first=first):
            yield event

    # ── answers ────────────────────────────────────────────────────────────────────────────────────
    async def answer(self, command: AnswerQuestion, turn: Turn) -> AsyncIterator[Event]:
        if not track.is_flow_id(command.question_id):
            async for event in self.conversation.answer(command, turn):
                yield event
            return
        loaded, lane, flow, ref = await self.at_node(command.actor, command.session_id, turn)
        q = lane.question(command.question_id)
        if q is None:
            raise InvalidTransition(msg.QUESTION_CLOSED)
        if q.answer is not None:
            raise AlreadyAnswered(msg.QUESTION_ANSWERED.format(by=q.answered_by, answer=q.answer))
        options = list(q.options or [])
        if command.answer not in options:
            raise InvalidTransition(msg.FLOW_NOT_AN_OPTION.format(options=", ".join(options)))
        lane = lane.answered(q.id, command.answer, command.actor.name)
        said = f'Answer to "{q.text}": {command.answer}'
        answered = lane.question(q.id)
        assert answered is not None
        yield QuestionAnswered(command.session_id, lane.step_order, answered.view(), 0)
        async for event in self.advanced(
            loaded,
            lane,
            flow,
            ref,
            Option(options.index(command.answer)),
            actor=command.actor,
            turn=turn,
            said=said,
        ):
            yield event

    async def mark_action(self, command: MarkAction, turn: Turn) -> AsyncIterator[Event]:
        if not track.is_flow_id(command.action_id):
            async for event in self.conversation.mark_action(command, turn):
                yield event
            return
        loaded, lane, flow, ref = await self.at_node(command.actor, command.session_id, turn)
        a = lane.action(command.action_id)
        if a is None:
            raise InvalidTransition(msg.ACTION_UNKNOWN)
        if a.outcome is not None:
            outcome = "done" if a.outcome == "done" else "didn't work"
            raise AlreadyAnswered(msg.ACTION_MARKED.format(by=a.marked_by, outcome=outcome))
        lane = lane.marked(a.id, command.outcome, command.actor.name)
        result = "done, it worked as described" if command.outcome == "done" else "tried, it didn't work"
        marked = lane.action(a.id)
        assert marked is not None
        yield ActionMarked(command.session_id, lane.step_order, marked.view())
        said = f'Suggested step "{a.text}": {result}'
        async for event in self.advanced(
            loaded, lane, flow, ref, Marked(command.outcome), actor=command.actor, turn=turn, said=said
        ):
            yield event

    async def user_message(self, command: UserMessage, turn: Turn) -> AsyncIterator[Event]:
        """Free text: on a flow node Claude maps it to one of the node's answers or leaves the flow
        (bot.flow_text); otherwise it is the conversation's."""
        on_flow = await self._peek_on_flow(command.session_id, turn)
        handler = self.text.user_message if on_flow else self.conversation.user_message
        async for event in handler(command, turn):
            yield event

    async def leave(self, command: LeaveFlow, turn: Turn) -> AsyncIterator[Event]:
        loaded = await self.sessions.load_copy(command.actor, command.session_id, turn)
        s = loaded.session
        require_active(s)
        if not track.on_flow(s):
            raise InvalidTransition(msg.FLOW_NOT_ON)
        await self.left(s, node=s.flow_node)
        note = track.handover_note(s, why="the engineer left it")
        async for event in self.conversation.hand_over(loaded, actor=command.actor, turn=turn, note=note):
            yield event

    # ── moving through the flow ────────────────────────────────────────────────────────────────────
    async def at_node(
        self, actor: Actor, session_id: uuid.UUID, turn: Turn
    ) -> tuple[Loaded[SessionState], TaskLane, Flow, FlowRef]:
        loaded = await self.sessions.load_copy(actor, session_id, turn)
        s = loaded.session
        require_active(s)
        if not track.on_flow(s):
            raise InvalidTransition(msg.QUESTION_CLOSED)
        assert s.flow_version_id is not None
        ref, flow = await self.version(s.flow_version_id)
        return loaded, TaskLane.from_json(s.pending_task_lane), flow, ref

    async def advanced(
        self,
        loaded: Loaded[SessionState],
        lane: TaskLane,
        flow: Flow,
        ref: FlowRef,
        answer: Answer,
        *,
        actor: Actor,
        turn: Turn,
        said: str | None,
        before: SessionView | None = None,
    ) -> AsyncIterator[Event]:
        """Move the flow on by `answer` (`said`: the answer as the engineer's step, None when their own words
        were saved already) and show where it leads."""
        s = loaded.session
        try:
            step = advance(flow, track.position(s), answer)
        except FlowError as err:
            logger.warning("flow %s refused an answer: %s", ref.slug, err)
            raise InvalidTransition(msg.QUESTION_CLOSED) from None
        touch(s, now())
        s.pending_task_lane = lane.to_json()
        async with raw.autocommit(self.db) as db:
            if before is None:
                before = await self.sessions.view_of(db, loaded)
            if said is not None:
                s.step_count += 1
                step_row = {"role": "user", "user_id": loaded.user.id, "kind": "answer", "content": said}
                await self.conversation.save_step(db, loaded, step_row)
        async for event in self.arrive(loaded, step, ref=ref, actor=actor, turn=turn, before=before):
            yield event

    async def arrive(
        self, loaded: Loaded[SessionState], step: Step, *, ref: FlowRef, actor: Actor, turn: Turn, before: Any
    ) -> AsyncIterator[Event]:
        """Show where the flow has got to: its next question or action, or what its end does."""
        s = loaded.session
        track.add_evidence(s, [e.model_dump() for e in step.evidence])
        track.store(s, step.position, slug=ref.slug, title=ref.title, end=step.end)
        if step.ask is not None:
            async for event in self._ask(loaded, step, step.ask, actor=actor, turn=turn, before=before):
                yield event
            return
        end = step.end
        if isinstance(end, GotoEnd):
            async for event in self._goto(loaded, end, actor=actor, turn=turn, before=before):
                yield event
        elif isinstance(end, AiEnd):
            # Where the known path runs out: counted as left there (what the flywheel reads).
            await self.left(s, node=step.position.node)
            note = track.handover_note(s, why="it hands over to you here", hint=end.hint)
            async for event in self.conversation.hand_over(loaded, actor=actor, turn=turn, note=note):
                yield event
        else:
            assert isinstance(end, ResolutionEnd | EscalateEnd)
            async for event in self._draft(loaded, step, end, ref=ref, actor=actor, turn=turn):
                yield event

    async def _ask(
        self, loaded: Loaded[SessionState], step: Step, ask: Ask, *, actor: Actor, turn: Turn, before: Any
    ) -> AsyncIterator[Event]:
        s = loaded.session
        s.step_count += 1
        item_id = track.node_id(s.step_count, ask.node)
        text = ask.text + (f"\nRun: {ask.command}" if ask.command else "")
        if ask.kind == "question":
            lane = TaskLane(s.step_count, questions=(Question(item_id, ask.text, list(ask.options)),))
        else:
            lane = TaskLane(s.step_count, actions=(Action(item_id, text),))
        s.pending_task_lane = lane.to_json()
        s.awaiting_reply = False
        s.confidence_tier = "guided"
        message = "\n\n".join([*step.shown, f"{track.title(s)} · step {s.flow_step}"])
        release_with(s)
        async with raw.autocommit(self.db) as db:
            after = await self.sessions.view_of(db, loaded)
            changed = header_changed(before, after)
            change = notify.SessionChange(s.id, "triage", actor.origin, actor.platform)
            saved = await self.conversation.save_step(
                db,
                loaded,
                {
                    "role": "assistant",
                    "kind": "flow",
                    "content": message,
                    "questions": [q.to_json() for q in lane.questions] or None,
                    "actions": [a.to_json() for a in lane.actions] or None,
                },
                tell=notify.message(change) if changed else None,
            )
        turn.released = True
        yield AssistantTurn(
            s.id, saved.step_order, message, after.questions, after.actions, after.confidence_tier
        )
        if changed:
            yield TriageChanged(s.id, after)

    async def _goto(
        self, loaded: Loaded[SessionState], end: GotoEnd, *, actor: Actor, turn: Turn, before: Any
    ) -> AsyncIterator[Event]:
        s = loaded.session
        found = await self._require_library().current(account_id=s.account_id, slug_or_id=end.slug)
        if found is None:
            await self.left(s, node=s.flow_node)
            note = track.handover_note(
                s, why=f"it leads to the flow {end.slug!r}, which this workspace lacks"
            )
            async for event in self.conversation.hand_over(loaded, actor=actor, turn=turn, note=note):
                yield event
            return
        ref, flow = found
        await self._require_library().count(ref.version_id, event="started")
        step = enter(flow, ref.version_id, path=track.position(s).path)
        async for event in self.arrive(loaded, step, ref=ref, actor=actor, turn=turn, before=before):
            yield event

    async def _draft(
        self,
        loaded: Loaded[SessionState],
        step: Step,
        end: ResolutionEnd | EscalateEnd,
        *,
        ref: FlowRef,
        actor: Actor,
        turn: Turn,
    ) -> AsyncIterator[Event]:
        """A resolution or escalate node: the flow's part is done; the draft opens with what the node says (the
        engineer still reads it and confirms)."""
        s = loaded.session
        kind: HandoffKind = "resolve" if isinstance(end, ResolutionEnd) else "escalate"
        await self._require_library().count(
            ref.version_id, event="resolved" if kind == "resolve" else "escalated", node=s.flow_node
        )
        s.flow_node = None  # the flow's path is done; the draft (and the session) go on without it
        s.pending_task_lane = None
        s.awaiting_reply = False
        lines = [*step.shown, msg.FLOW_RESOLVED if kind == "resolve" else msg.FLOW_ESCALATES]
        s.step_count += 1
        track.end_reached(s)
        async with raw.autocommit(self.db) as db:
            await self.conversation.save_step(
                db, loaded, {"role": "assistant", "kind": "flow", "content": "\n\n".join(lines)}
            )
        yield AssistantTurn(s.id, s.step_count, "\n\n".join(lines), (), (), s.confidence_tier)
        command = DraftHandoff(actor=actor, session_id=s.id, kind=kind)
        async for event in self._handoffs.draft(command, turn):
            yield event

    async def left(self, s: SessionState, *, node: str | None) -> None:
        """The session stops following its flow (counted as left at `node` when the engineer left it)."""
        if s.flow_version_id is not None and node is not None:
            await self._require_library().count(s.flow_version_id, event="left", node=node)
        track.leave(s)
        s.pending_task_lane = None
        s.confidence_tier = "exploring"

    async def _peek_on_flow(self, session_id: uuid.UUID, turn: Turn) -> bool:
        """Whether a flow guides the session, from the row the lease returned (read once, if it did not)."""
        if turn.row is None:
            async with raw.autocommit(self.db) as conn:
                state = await raw.session_copy(conn, session_id)
            if state is None:
                return False
            turn.row = state.values()
        return turn.row.get("flow_node") is not None and turn.row.get("flow_version_id") is not None

    async def version(self, version_id: uuid.UUID) -> tuple[FlowRef, Flow]:
        """A flow version, remembered: versions never change, and a button answer should not read and
        validate its flow again (the bound keeps a process's memory small)."""
        found = self._versions.get(version_id)
        if found is None:
            found = await self._require_library().version(version_id)
            if len(self._versions) >= VERSIONS_KEPT:
                self._versions.pop(next(iter(self._versions)))
            self._versions[version_id] = found
        return found

    def _require_library(self) -> FlowLibrary:
        if self.library is None:
            raise InvalidTransition(msg.FLOWS_OFF)
        return self.library
