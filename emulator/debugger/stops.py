"""What the debugger's engine hands back: stops, points, one-line errors.

Contract: ``Stop(kind, text, bp)`` says why a command ended (``kind``: step,
break, watch, catch, interrupted, exited, crashed, limit); ``text`` is the
line shown (empty for a plain step); ``bp`` the ``Point`` that fired.
``Point`` is a breakpoint, watchpoint or catchpoint.  ``DebugError`` is a
mistake the user made, or a thing that cannot be done: one line.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional


class DebugError(Exception):
    """A mistake the user made, or a thing that cannot be done: one line."""


@dataclass
class Stop:
    kind: str                 # step, break, watch, catch, interrupted, exited, crashed, limit
    text: str = ""
    bp: object = None

    def __str__(self):
        return self.text


@dataclass
class Point:
    num: int
    kind: str                 # break, tbreak, watch, rwatch, catch
    addr: Optional[int] = None
    length: int = 0
    cond: Optional[str] = None
    what: str = ""            # for catch: "irq", "irq 5", "switch", "violation"
    line: Optional[int] = None
    enabled: bool = True
    hits: int = 0
    handle: object = None
    extra: dict = field(default_factory=dict)
