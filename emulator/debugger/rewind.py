"""The observer and the checkers going back in time with the machine.

Contract
--------
The debugger goes back by restoring a machine snapshot and replaying forward
(emulator/debugger/reverse.py).  ``Rewind(session, trace_path=None)`` makes
the observing ``Session`` (emulator/observe) follow:

- ``save() -> bytes`` is taken with every machine snapshot: the observer's
  model (stack owner per CPU, open interrupt frames, hook bookkeeping), the
  kernel model's run state (the line mask last seen), the stack map, the checkers' state and every rule's own state
  (``Checker.save_state``), the ``Recent`` buffer, and where the event
  stream stood.  Not the trace file and not the violations already
  reported: they are the history of the furthest run.
  ``restore(saved)`` puts all of it back (after the machine's restore).
- The event stream has a **high-water mark**: the furthest event seen.  An
  event's place is ``(t, k)``: its virtual time and its rank among the
  events of that time (emulator/debugger/reverse.py's ``HighWater``, which
  the guest's console uses too).  irqlab is deterministic, so a replay from a
  snapshot gives the same events in the same order; those at or before the
  mark are *again*.  Again events feed the observer, the ``Recent`` buffer
  and the rules (so their state follows the machine), and a rule that fires
  on them emits its ``check.violation`` event (a ``catch violation`` stops
  there again) but the violation is neither reported nor counted a second
  time.  Only events past the mark are written to the trace.
- So the trace file is the history of the furthest-forward run, each line
  written once and in order.  ``fork()`` — the user changed the machine by
  hand (``set``, ``irq``, ``inject``) while behind the mark — lowers the mark
  to now: what follows is a new history, written and checked as new, and a
  trace in a plain file is cut back to now first (lines of the abandoned
  future are removed; a pipe or ``.gz`` cannot be cut, and keeps them).
  Violations reported on the abandoned future stay counted.
- ``again`` is true while the last event seen is a replayed one;
  ``close()`` closes the trace.

Cost: nothing per event but the place bookkeeping (and, behind the mark
with a cuttable trace, the length of each line); ``save`` pickles a few
dicts, once per snapshot (the debugger takes O(log n) of them on a run).
"""

from __future__ import annotations

import collections
import gzip
import pickle

from emulator.debugger.reverse import HighWater
from emulator.trace import dumps, open_writer

# what is state (saved) rather than wiring (kept) in the observer's objects
_STATE_TYPES = (dict, list, set, collections.deque, int, str, bool, tuple)


def _state_of(obj) -> dict:
    return {k: v for k, v in vars(obj).items()
            if isinstance(v, _STATE_TYPES) and not callable(v)}


class Rewind:
    def __init__(self, session, trace_path=None) -> None:
        self.s = session
        self.places = HighWater()   # events' places and the mark
        self.again = False
        self.writer = None
        self.cuttable = False
        self.offset = 0             # trace bytes up to ``place`` while behind the mark
        fan = session.fanout
        own = getattr(session, "writer", None)
        if own is not None:         # the session's own writer is gated here
            fan.consumers = [c for c in fan.consumers if getattr(c, "__self__", None) is not own]
            self.writer = own
        elif trace_path:
            self.writer = open_writer(trace_path)
        if self.writer is not None:
            # only a plain file the writer opened itself is cut (not stdout,
            # not a .gz stream)
            f = getattr(self.writer, "_f", None)
            try:
                self.cuttable = bool(f is not None and getattr(self.writer, "_own", False)
                                     and not isinstance(getattr(f, "buffer", None),
                                                        gzip.GzipFile)
                                     and f.seekable() and f.writable())
            except (OSError, ValueError):
                self.cuttable = False
        fan.consumers.insert(0, self._see)
        if self.writer is not None:
            fan.consumers.insert(1, self._write)
        if session.checker is not None:
            session.checker.replaying = lambda: self.again

    # ------------------------------------------------------------- the stream
    def _see(self, ev: dict) -> None:
        self.again = not self.places.see(ev["t"])

    def _write(self, ev: dict) -> None:
        if not self.again:
            self.writer.write(ev)
        elif self.cuttable:
            self.offset += len(dumps(ev)) + 1

    def _trace_offset(self) -> int:
        """Bytes of the trace up to the current place."""
        if not self.cuttable:
            return 0
        if self.again or self.places.behind():
            return self.offset
        f = self.writer._f
        f.flush()
        return f.tell()

    # ------------------------------------------------------------ going back
    def save(self) -> bytes:
        s = self.s
        parts = {"observer": _state_of(s.observer), "stacks": _state_of(s.stacks),
                 "kernel": _state_of(s.kernel) if s.kernel is not None else None,
                 "events": s.events.events,
                 "checker": s.checker.save_state() if s.checker is not None else None,
                 "place": self.places.place,
                 "offset": self._trace_offset()}
        return pickle.dumps(parts, pickle.HIGHEST_PROTOCOL)

    def restore(self, saved: bytes) -> None:
        s = self.s
        parts = pickle.loads(saved)
        vars(s.observer).update(parts["observer"])
        vars(s.stacks).update(parts["stacks"])
        if s.kernel is not None and parts["kernel"] is not None:
            vars(s.kernel).update(parts["kernel"])     # e.g. the IO APIC line mask seen last
        # in place: the session's fan-out holds this deque's append
        s.events.events.clear()
        s.events.events.extend(parts["events"])
        if s.checker is not None and parts["checker"] is not None:
            s.checker.restore_state(parts["checker"])
        self.places.place = parts["place"]
        self.again = self.places.behind()
        self.offset = parts["offset"]

    def fork(self) -> None:
        """The machine is changed by hand here: the history after now is gone."""
        if not self.places.behind():
            return
        offset = self._trace_offset()
        self.places.fork()
        self.again = False
        if self.cuttable:
            f = self.writer._f
            f.flush()
            f.seek(offset)
            f.truncate()

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
