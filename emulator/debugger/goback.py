"""Going back: the Debugger's reverse-stepi and reverse-continue.

Contract
--------
``GoingBack`` is mixed into ``Debugger`` (control.py) and uses its
``history`` (reverse.py), ``t`` (Target), ``mode``, ``points`` and exec
hooks.  ``goto_time(t)`` puts the machine (and what rides in its snapshots:
console place, interrupt log, observer) where it was at virtual time ``t``:
restore the latest snapshot at or before ``t``, replay forward exactly with
the breakpoint hooks off (``_replay``).

``reverse_stepi(n)`` goes back n instructions.  ``reverse_cont()`` goes back
to the latest stop before now, as gdb's reverse-continue: a breakpoint hit
(the instruction about to run), a watchpoint hit (just after the access), a
``catch irq`` hit (the interrupt taken again, stopped at the handler's
first instruction with nothing run, as a forward catch stops), or a ``catch
switch`` / ``catch violation`` hit (the time of its event).  Hits are
recorded by replaying windows going back from now (4K, 32K, 256K...
instructions) with ``mode = "record"``, so a recent hit is found without
replaying the whole history.  With none, it stops at the start of the
history ("No more reverse-execution history.").

``recorded`` holds ``(t, cpu, point)`` of a window; control.py's exec,
watch, interrupt and event callbacks append to it in record mode.
"""

from __future__ import annotations

from emulator.debugger.stops import DebugError, Stop


class GoingBack:
    # replay -------------------------------------------------------------------
    def _replay(self, n: int) -> None:
        """Run exactly n instructions with no stop: breakpoint hooks are taken
        off meanwhile, so a hot breakpoint costs nothing in a replay."""
        mode, self.mode = self.mode, "replay"
        addrs = list(self._hooked)
        for a in addrs:
            self.t.remove_exec_hook(self._hooked.pop(a))
        try:
            self._forward(n)
        finally:
            for a in addrs:
                self._hook(a)
            self.mode = mode

    def _forward(self, n: int) -> None:
        """Run exactly n instructions over time already run: the console
        prints nothing (ConsoleOnce's mark is ahead; its place is counted)."""
        self._console_gate()
        left = n
        while left > 0:
            before = self.t.now
            self.t.step(left)
            ran = self.t.now - before
            if ran <= 0:
                raise DebugError(f"replay stuck at t={self.t.now}")
            left -= ran

    def goto_time(self, t: int) -> None:
        if self.history.broken:
            raise DebugError(f"going back is off: the machine cannot snapshot ({self.history.broken})")
        if t < 0:
            raise DebugError("cannot go before the start of the run")
        earliest = self.history.earliest()
        if earliest is None or t < earliest:
            raise DebugError(f"no history that far back (it starts at t={earliest})")
        try:
            self.history.goto(t, self._replay)
        except ValueError as e:
            raise DebugError(f"going back failed: {e}") from None

    # commands ------------------------------------------------------------------
    def reverse_stepi(self, n: int = 1):
        self.goto_time(max(self.history.earliest(), self.t.now - n))
        return Stop("step")

    def reverse_cont(self):
        if self.history.broken:
            raise DebugError(f"going back is off: the machine cannot snapshot ({self.history.broken})")
        now = self.t.now
        earliest = self.history.earliest()
        end, width = now, 4096
        while end > earliest:
            start = max(earliest, end - width)
            hits = [h for h in self._record(start, end) if h[0] < now]
            if hits:
                return self._back_to(*hits[-1])
            end, width = start, width * 8
        self.goto_time(earliest)
        return Stop("step", "No more reverse-execution history.")

    def _record(self, start: int, end: int) -> list:
        """The stops a forward run over [start, end) would have made.  The
        window is replayed from each snapshot in it in turn: one taken after
        a change by hand (set, irq, inject) holds the change, which a replay
        from before it would not make."""
        self.recorded = []
        cuts = [start] + [t for t in self.history.times if start < t < end] + [end]
        for a, b in zip(cuts, cuts[1:]):
            self.goto_time(a)
            self.mode = "record"
            try:
                self._forward(b - a)
            finally:
                self.mode = "idle"
        return self.recorded

    def _back_to(self, t: int, cpu: int, p):
        self.goto_time(t)
        self.cpu = cpu
        if p.kind == "catch" and p.what.startswith("irq"):
            stop = self._take_interrupt(t)
            if stop is not None:
                stop.text += " (reverse)"
                return stop
        if p.kind == "catch":
            return Stop("catch", f"Catchpoint {p.num} ({p.what}, reverse), "
                                 f"{self.symbolize(self.pc)}", p)
        name = {"watch": "Hardware watchpoint", "rwatch": "Hardware read watchpoint"}.get(
            p.kind, "Breakpoint")
        return Stop("watch" if "watch" in p.kind else "break",
                    f"{name} {p.num} (reverse), {self.symbolize(self.pc)}", p)

    def _take_interrupt(self, t: int):
        """At time ``t``, just before an interrupt recorded there is taken:
        take it with the catchpoints armed, which stop before the handler's
        first instruction runs (the forward catch's place).  None (and back
        at ``t``) if no catchpoint fired."""
        self.reason, self.hit, self.mode = None, None, "run"
        self.start = (t, self.pc)
        try:
            self.t.run(1)
        finally:
            self.mode = "idle"
        if self.reason is None or self.t.now != t:
            self.goto_time(t)
            return None
        return self.reason
