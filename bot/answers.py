"""An answer button carries the index of the option it stands for; the session's open question says which."""

from __future__ import annotations

import uuid
from typing import Protocol

from . import messages as msg
from .commands import Actor, AnswerQuestion
from .errors import InvalidTransition
from .events import SessionView


class Views(Protocol):
    async def view(self, *, actor: Actor, session_id: uuid.UUID) -> SessionView: ...


def option_index(value: object) -> int:
    """The option index a button sent (-1 when it is not one, which no question has)."""
    text = str(value).strip()
    return int(text) if text.isdigit() else -1


async def chosen(
    views: Views, *, actor: Actor, session_id: uuid.UUID, question_id: str, option: int
) -> AnswerQuestion:
    """The answer `option` stands for in the session's question `question_id`, as `actor` gives it.

    Raises InvalidTransition when that question is no longer shown or has no such option (a button of an
    earlier turn), and what `view` raises (not found, another account's session).
    """
    view = await views.view(actor=actor, session_id=session_id)
    question = next((q for q in view.questions if q.id == question_id), None)
    if question is None or not 0 <= option < len(question.options):
        raise InvalidTransition(msg.QUESTION_CLOSED)
    return AnswerQuestion(
        actor=actor, session_id=session_id, question_id=question_id, answer=question.options[option]
    )
