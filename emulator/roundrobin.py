"""Who runs next: deterministic turns of 1..N CPUs on one clock.

Virtual time is one counter for the whole machine: the instructions retired
by all CPUs together, as QEMU's single-threaded round-robin TCG counts them
under ``-icount``.  The order: CPUs take turns in index order 0, 1, ...,
N-1, 0, ...; a turn lasts ``quantum`` retired instructions (default 1000,
one virtual microsecond) or until the CPU halts, whichever comes first; a
CPU stopped inside its turn by a device deadline, a port or MMIO exit or an
interrupt to deliver resumes the same turn.  Halted CPUs and APs waiting
for a start-up IPI are skipped; when no CPU can run, virtual time jumps to
the next device deadline (QEMU ``sleep=off``).  Nothing else -- no wall
clock, no host thread -- decides who runs, so a run of several CPUs is as
reproducible as a run of one, and since one CPU runs at a time every
instruction is atomic.

One CPU is the case N = 1: there is nobody to take turns with, so its turn
never ends (the quantum is unbounded, ``ALONE``) and it runs until an event
stops it, exactly as a uniprocessor would.

``RoundRobin(ncpus, quantum=None)`` keeps ``state[i]`` (``CpuState``:
running, halted, wait-for-sipi), ``current`` (whose turn), ``used`` (its
instructions so far) and ``turns``; ``next_slice(now, deadline)`` is the
decision, a ``Slice``.  The machine's loop (emulator/runloop.py) drives it.

Reference: QEMU accel/tcg/tcg-accel-ops-rr.c (round-robin vCPUs sharing one
icount).
"""

from __future__ import annotations

import enum
from typing import Optional

DEFAULT_QUANTUM = 1000
ALONE = 1 << 62                 # the quantum of a lone CPU: its turn never ends


class CpuState(enum.Enum):
    RUNNING = "running"
    HALTED = "halted"            # hlt: waits for an interrupt, NMI or INIT
    WAIT_SIPI = "wait-for-sipi"  # an AP after reset or INIT


class Slice:
    """One decision of the scheduler: run ``cpu`` for at most ``count`` instructions,
    or (``cpu`` None) let time jump to ``until`` (None: nothing will ever happen)."""

    __slots__ = ("cpu", "count", "until")

    def __init__(self, cpu: Optional[int], count: int = 0, until: Optional[int] = None) -> None:
        self.cpu, self.count, self.until = cpu, count, until

    def __repr__(self) -> str:
        if self.cpu is None:
            return f"Slice(idle until={self.until})"
        return f"Slice(cpu={self.cpu}, count={self.count})"

    def __eq__(self, other) -> bool:
        return isinstance(other, Slice) and (self.cpu, self.count, self.until) == \
            (other.cpu, other.count, other.until)


class RoundRobin:
    """Who runs next and for how long (the order is in the module docstring).

    The machine's loop (emulator/runloop.py) is, in outline::

        s = rr.next_slice(clock.now, next_device_deadline)
        if s.cpu is None: jump clock.now to s.until (or stop: deadlock), advance devices
        else: run CPU s.cpu for at most s.count instructions; n retired;
              rr.retired(n); clock.now += n; if it executed hlt: rr.halt(s.cpu)

    and it calls ``wake(cpu)`` when a halted CPU has something to take (an
    interrupt it accepts, an NMI, an INIT), ``wait_sipi(cpu)`` on INIT of an
    AP, ``start(cpu)`` on the SIPI that starts it.
    """

    def __init__(self, ncpus: int, quantum: Optional[int] = None) -> None:
        if quantum is None:
            quantum = DEFAULT_QUANTUM if ncpus > 1 else ALONE
        if quantum < 1:
            raise ValueError(f"the quantum must be at least 1 instruction, not {quantum}")
        self.quantum = quantum
        self.state = [CpuState.RUNNING] + [CpuState.WAIT_SIPI] * (ncpus - 1)
        self.current = 0                # whose turn it is
        self.used = 0                   # instructions retired in this turn
        self.turns = 0                  # turns started (for the trace and tests)

    def runnable(self, cpu: int) -> bool:
        return self.state[cpu] is CpuState.RUNNING

    def next_slice(self, now: int, deadline: Optional[int]) -> Slice:
        """The next CPU to run and its instruction budget, or an idle jump."""
        n = len(self.state)
        if not (self.runnable(self.current) and self.used < self.quantum):
            for step in range(1, n + 1):
                cpu = (self.current + step) % n
                if self.runnable(cpu):
                    self.current, self.used = cpu, 0
                    self.turns += 1
                    break
            else:
                self.used = self.quantum          # the next runnable CPU starts a fresh turn
                return Slice(None, until=deadline)
        budget = self.quantum - self.used
        if deadline is not None:
            budget = min(budget, max(deadline - now, 0))
        return Slice(self.current, budget)

    def retired(self, count: int) -> None:
        """The current CPU retired ``count`` instructions of its slice."""
        self.used += count

    def halt(self, cpu: int) -> None:
        self.state[cpu] = CpuState.HALTED

    def wake(self, cpu: int) -> None:
        if self.state[cpu] is CpuState.HALTED:
            self.state[cpu] = CpuState.RUNNING

    def wait_sipi(self, cpu: int) -> None:
        self.state[cpu] = CpuState.WAIT_SIPI

    def start(self, cpu: int) -> None:
        self.state[cpu] = CpuState.RUNNING

    def save_state(self) -> dict:
        return {"state": list(self.state), "current": self.current, "used": self.used,
                "turns": self.turns}

    def load_state(self, state: dict) -> None:
        self.state = list(state["state"])
        self.current, self.used, self.turns = state["current"], state["used"], state["turns"]

    def describe(self) -> str:
        return " ".join(f"cpu{i}={s.value}{'*' if i == self.current else ''}"
                        for i, s in enumerate(self.state))
