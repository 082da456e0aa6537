"""The task lane: the questions and suggested steps of Claude's latest turn, with the engineer's answers.

Typed in the core; `to_json` / `from_json` at the storage boundary (the `pending_task_lane` JSONB column),
which keeps the stored shape: an entry has its `answer` / `outcome` keys only once it was answered / marked.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from . import events


@dataclass(frozen=True)
class Question:
    id: str
    text: str
    options: list[str] | None = None
    answer: str | None = None
    answered_by: str | None = None

    @property
    def open(self) -> bool:
        return self.answer is None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"id": self.id, "text": self.text, "options": self.options}
        if self.answer is not None:
            out |= {"answer": self.answer, "answered_by": self.answered_by}
        return out

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Question:
        return cls(data["id"], data["text"], data.get("options"), data.get("answer"), data.get("answered_by"))

    def view(self) -> events.Question:
        return events.Question(self.id, self.text, tuple(self.options or ()), self.answer, self.answered_by)


@dataclass(frozen=True)
class Action:
    id: str
    text: str
    outcome: str | None = None  # done | failed
    marked_by: str | None = None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"id": self.id, "text": self.text}
        if self.outcome is not None:
            out |= {"outcome": self.outcome, "marked_by": self.marked_by}
        return out

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Action:
        return cls(data["id"], data["text"], data.get("outcome"), data.get("marked_by"))

    def view(self) -> events.SuggestedAction:
        return events.SuggestedAction(self.id, self.text, self.outcome, self.marked_by)


@dataclass(frozen=True)
class TaskLane:
    step_order: int = 0
    questions: tuple[Question, ...] = field(default=())
    actions: tuple[Action, ...] = field(default=())

    def question(self, question_id: str) -> Question | None:
        return next((q for q in self.questions if q.id == question_id), None)

    def action(self, action_id: str) -> Action | None:
        return next((a for a in self.actions if a.id == action_id), None)

    @property
    def open_questions(self) -> int:
        return sum(1 for q in self.questions if q.open)

    @property
    def all_marked(self) -> bool:
        return all(a.outcome is not None for a in self.actions)

    def answered(self, question_id: str, answer: str, by: str) -> TaskLane:
        """The lane with one question answered."""
        return dataclasses.replace(
            self,
            questions=tuple(
                dataclasses.replace(q, answer=answer, answered_by=by) if q.id == question_id else q
                for q in self.questions
            ),
        )

    def marked(self, action_id: str, outcome: str, by: str) -> TaskLane:
        """The lane with one suggested step marked done or failed."""
        return dataclasses.replace(
            self,
            actions=tuple(
                dataclasses.replace(a, outcome=outcome, marked_by=by) if a.id == action_id else a
                for a in self.actions
            ),
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "step_order": self.step_order,
            "questions": [q.to_json() for q in self.questions],
            "actions": [a.to_json() for a in self.actions],
        }

    @classmethod
    def from_json(cls, data: dict[str, Any] | None) -> TaskLane:
        """The stored lane; an empty one when there is none (no turn yet, or the session was handed off)."""
        data = data or {}
        return cls(
            int(data.get("step_order", 0)),
            tuple(Question.from_json(q) for q in data.get("questions", [])),
            tuple(Action.from_json(a) for a in data.get("actions", [])),
        )

    def view_questions(self) -> tuple[events.Question, ...]:
        return tuple(q.view() for q in self.questions)

    def view_actions(self) -> tuple[events.SuggestedAction, ...]:
        return tuple(a.view() for a in self.actions)
