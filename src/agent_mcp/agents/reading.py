"""What every kind's TurnReader hands straight to its parser: the parser holds the turn's state, the
reader adds only how its events become the pool's Steps (each kind's `feed`)."""

from __future__ import annotations

from typing import Protocol

from agent_mcp.core.long_strings import SpilledText
from agent_mcp.core.models import AgentResponse


class Parser(Protocol):
    """A kind's pure parser of one turn's output lines (agents/<kind>/_stream.py)."""

    violation: str | None
    leftovers: int
    dropped: list[str]

    @property
    def session_id(self) -> str | None: ...

    @property
    def done(self) -> bool: ...

    @property
    def answered(self) -> bool: ...

    @property
    def worked(self) -> bool: ...

    @property
    def spilled_text(self) -> SpilledText | None: ...

    def droppable(self, head: bytes) -> bool: ...

    def response(self, agent: str) -> AgentResponse: ...


class ParsedTurn:
    """The TurnReader's state, read from its parser (agents/kind.py says what each means)."""

    def __init__(self, stream: Parser) -> None:
        self.stream = stream

    @property
    def session_id(self) -> str | None:
        return self.stream.session_id

    @property
    def violation(self) -> str | None:
        return self.stream.violation

    @property
    def leftovers(self) -> int:
        return self.stream.leftovers

    @property
    def dropped(self) -> list[str]:
        return self.stream.dropped

    @property
    def done(self) -> bool:
        return self.stream.done

    @property
    def answered(self) -> bool:
        return self.stream.answered

    @property
    def worked(self) -> bool:
        return self.stream.worked

    @property
    def spilled_text(self) -> SpilledText | None:
        return self.stream.spilled_text

    def droppable(self, head: bytes) -> bool:
        return self.stream.droppable(head)

    def response(self, agent: str) -> AgentResponse:
        return self.stream.response(agent)

    def refuse(self, why: str) -> None:
        self.stream.violation = self.stream.violation or why
