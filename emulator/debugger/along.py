"""Python state that goes back in time with the machine (the Target's companion).

Contract
--------
Each part has ``save() -> state`` and ``restore(state)``; the state rides
in every machine snapshot (target.py) and is put back right after the
machine.  ``Along(parts)`` bundles them (None parts are skipped).

- ``ConsoleOnce(out)``: the guest's console, printed once.  Each write has a
  place (virtual time, rank among the writes of that time, reverse.py's
  ``HighWater``); going back restores the place, and a write at or before
  the furthest place printed is not printed again.  ``fork()``: the
  machine was changed here, what follows is new.
- ``IntrLog``: the last interrupts taken in this history, oldest first:
  ``(t, cpu, vector, kind, eip_from, line, esp, seq)``; it never holds the
  future; ``seq`` keeps counting up (nexti tells the interrupts its step
  took by it).
"""

from __future__ import annotations

import collections

from emulator.debugger.reverse import HighWater


class ConsoleOnce:
    """The guest's console, printed once: each write has a place (virtual
    time, rank among the writes of that time); going back restores the place
    (it rides in the snapshots), and a write at or before the furthest place
    printed is not printed again.  ``fork()``: the machine was changed here,
    what follows is new."""

    def __init__(self, out) -> None:
        self.out = out
        self.clock = None
        self.places = HighWater()

    def __call__(self, data) -> None:
        now = self.clock.now if self.clock is not None else self.places.place[0]
        if self.places.see(now):
            self.out(data)

    def save(self):
        return self.places.place

    def restore(self, place) -> None:
        self.places.place = place

    def fork(self) -> None:
        self.places.fork()


class IntrLog(collections.deque):
    """The last interrupts taken in this history, oldest first: (t, cpu,
    vector, kind, eip_from, line, esp, seq).  It goes back with the machine,
    so it never holds the future; ``seq`` keeps counting up (nexti tells the
    interrupts its step took by it)."""

    def save(self) -> tuple:
        return tuple(self)

    def restore(self, saved) -> None:
        self.clear()
        self.extend(saved)


class Along:
    """Python state that goes back with the machine (the Target's companion):
    the console's place, the interrupt log and, with a session, the
    observer's Rewind."""

    def __init__(self, parts) -> None:
        self.parts = [p for p in parts if p is not None]

    def save(self) -> list:
        return [p.save() for p in self.parts]

    def restore(self, saved) -> None:
        for p, s in zip(self.parts, saved):
            p.restore(s)
