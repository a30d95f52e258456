"""Rule 13, ``spinout``: no spin lasts longer than a bound.

Contract
--------
``Spinout(limit)`` (a ``Rule``, emulator/checks/core.py) follows every wait
that burns a CPU: a ``lock.spin`` (a spin mutex whose word is taken, or an
adaptive mutex whose owner runs on another CPU) until that CPU acquires the
lock, blocks on it or switches away; a ``biglock.contend`` until the big lock is
acquired; and a hard interrupt handler, from the ``intr.enter`` that opens
the first interrupt frame on a CPU's thread to the ``intr.exit`` that closes
the last (nested handlers count in the outer one's time), or until the CPU
runs another thread (a borrowing interrupt LWP is a thread, not a handler).  When one has gone
on for more than ``limit`` instructions it is reported, once per lock (per
line for handlers), with the lock, its owner and both stacks — the spinner's
and the owner's — like lockdep's "spinlock lockup suspected" and NetBSD's
LOCKDEBUG "spinout".  The report comes at ``limit`` instructions after the
spin began, whether or not it ever ends: the rule asks the checker for an
alarm then (``alarms``), so a CPU spinning with interrupts off, which emits
nothing more, is still caught; without alarms (a synthetic stream) it
reports at the event that ends the spin, or at the end of the run.
``DEFAULT_LIMIT`` is the bound ``python -m emulator run`` uses unless told
``--spinout N``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from emulator.checks.core import THREAD_STACKS, Rule, State, Violation

DEFAULT_LIMIT = 10_000_000      # 10 ms of virtual time: above any correct run's longest wait


@dataclass
class Spin:
    t: int                      # when it began
    cpu: int
    who: Optional[str]          # the thread spinning (for a handler: the one interrupted)
    what: str                   # "lock", "big" or "intr"
    lock: Optional[str] = None
    owner: Optional[str] = None
    owner_cpu: Optional[int] = None
    line: Optional[int] = None


class Spinout(Rule):
    name = "spinout"
    title = "no spin, and no hard interrupt handler, runs longer than `limit` instructions"
    explanation = (
        "A spin is a CPU waiting without giving itself up: on a spin mutex "
        "(`lock.spin`; the kernel says once when a wait begins), on an "
        "adaptive mutex whose owner runs on another CPU, on the big lock "
        "(`biglock.contend`), or a hard interrupt handler running (from the "
        "first `intr.enter` on a CPU's thread to the `intr.exit` that closes "
        "it; nested handlers count in the outer one). Each is meant to last "
        "a few instructions: a spin that goes on for more than `limit` "
        "(10,000,000 instructions, 10 ms of virtual time, unless `--spinout "
        "N` says otherwise) waits for an owner that cannot run — the thread "
        "its own handler interrupted, an LWP that went to sleep holding a "
        "spin mutex, a CPU spinning on a lock the first one holds — or loops "
        "where it must not. The rule reports it at `limit` instructions after "
        "the spin began, whether or not it ever ends (the machine calls the "
        "rule back then: a CPU spinning with interrupts off says nothing "
        "more), as lockdep's \"spinlock lockup suspected\" and NetBSD's "
        "LOCKDEBUG \"spinout\" do, naming the lock, its owner and the CPU, "
        "with both stacks (the spinner's, across the interrupt frame into "
        "the code it interrupted, and the owner's). Once per lock, per line "
        "for handlers.")
    blind = ("a wait with no `obs_` label (a device poll such as the 8042's input-buffer "
             "wait, a cross-call's caller waiting for its answer, the SMP work-queue lock); "
             "a borrowing interrupt thread that loops (a thread, not a handler: "
             "`liveness`'s); many short spins that add up.")

    kinds = frozenset({"lock.spin", "biglock.contend", "lock.acquire", "lock.block",
                       "biglock.acquire", "lwp.switch", "stack.switch", "intr.enter",
                       "intr.exit"})

    def __init__(self, limit: int = DEFAULT_LIMIT) -> None:
        self.limit = limit
        self.spins: dict = {}       # (cpu, what, lock) -> Spin
        self.reported: set = set()
        self.alarms: list = []

    def _start(self, key, spin: Spin) -> None:
        if key not in self.spins:
            self.spins[key] = spin
            self.alarms.append(spin.t + self.limit + 1)

    def _end(self, key, st: State, ctx, t: int) -> Optional[list]:
        spin = self.spins.pop(key, None)
        if spin is None or t - spin.t <= self.limit:
            return None
        return self._report(spin, st, ctx, t)

    # the kinds that only end a spin: nothing to do while none goes on
    ENDS = frozenset({"lock.acquire", "lock.block", "biglock.acquire", "intr.exit",
                      "stack.switch", "lwp.switch"})

    def on(self, ev, st, ctx):
        kind, cpu, t = ev["ev"], ev["cpu"], ev["t"]
        if not self.spins and kind in self.ENDS:
            return None
        if kind == "lock.spin":
            self._start((cpu, "lock", ev.get("lock")),
                        Spin(t, cpu, st.actor(ev), "lock", ev.get("lock"), ev.get("owner")))
        elif kind == "biglock.contend":
            self._start((cpu, "big", None),
                        Spin(t, cpu, ev.get("lwp") or st.actor(ev), "big", "kernel_lock",
                             ev.get("owner"), ev.get("owner_cpu")))
        elif kind in ("lock.acquire", "lock.block"):
            return self._end((cpu, "lock", ev.get("lock")), st, ctx, t)
        elif kind == "biglock.acquire":
            return self._end((cpu, "big", None), st, ctx, t)
        elif kind == "intr.enter":
            if not st.frames_of(cpu):
                self._start((cpu, "intr", None),
                            Spin(t, cpu, st.current.get(cpu), "intr", line=ev.get("line")))
        elif kind == "intr.exit":
            if len(st.frames_of(cpu)) <= 1:
                return self._end((cpu, "intr", None), st, ctx, t)
        elif kind == "stack.switch":
            # a borrowing interrupt LWP takes over from the interrupted one:
            # the CPU runs a thread, no longer hard interrupt context
            to = ev.get("to")
            if (cpu, "intr", None) in self.spins and isinstance(to, str) and \
                    to.startswith(THREAD_STACKS) and not st.frames.get(to):
                return self._end((cpu, "intr", None), st, ctx, t)
        elif kind == "lwp.switch":
            # the spinner (or a handler that blocked) left the CPU
            out = []
            for key in [k for k, s in self.spins.items() if k[0] == cpu]:
                if key[1] == "intr" or self.spins[key].who == ev.get("from"):
                    out += self._end(key, st, ctx, t) or []
            return out or None
        return None

    def due(self, st, ctx, t):
        out = []
        for key, spin in list(self.spins.items()):
            if t - spin.t <= self.limit:
                continue
            if spin.what == "intr" and any(k[0] == spin.cpu and k[1] != "intr"
                                           for k in self.spins):
                # the handler spins on a lock: that spin's report says more
                del self.spins[key]
                continue
            out += self._report(spin, st, ctx, t) or []
        return out or None

    def finish(self, st, ctx):
        return self.due(st, ctx, st.t)

    def _report(self, spin: Spin, st: State, ctx, t: int) -> Optional[list]:
        key = (spin.what, spin.line if spin.what == "intr" else spin.lock)
        if key in self.reported:
            return None
        self.reported.add(key)
        n = t - spin.t
        mine = (f"{spin.who} on cpu{spin.cpu}", ctx.backtrace(spin.cpu) or [])
        if spin.what == "intr":
            line = f"irq {spin.line}" if spin.line is not None else "an interrupt"
            return [Violation(self.name, f"cpu{spin.cpu} has been in the {line} handler for "
                              f"{n} instructions (since t={spin.t}), in hard interrupt context "
                              f"on {spin.who}", t=t, cpu=spin.cpu,
                              fields={"line": spin.line, "lwp": spin.who},
                              paths=[(f"the {line} handler on cpu{spin.cpu}, and the code it "
                                      "interrupted", mine[1])])]
        owner = spin.owner
        where = st.running.get(owner)
        if owner is not None and owner == spin.who:
            state = ("is the thread it interrupted: it cannot run until this handler "
                     "gives the CPU back")
        elif where is not None:
            state = f"runs on cpu{where}"
        elif owner is not None:
            state = "is not running"
        else:
            state = "is unknown"
        msg = (f"{spin.who} on cpu{spin.cpu} has spun on {spin.lock} for {n} instructions "
               f"(since t={spin.t}); its owner {owner} {state}")
        paths = [mine]
        if owner is not None and owner != spin.who:
            stack = getattr(ctx, "thread_backtrace", lambda name: None)(owner)
            paths.append((f"{owner}, the owner", stack or []))
        return [Violation(self.name, msg, t=t, cpu=spin.cpu,
                          fields={"lock": spin.lock, "lwp": spin.who, "owner": owner,
                                  "owner_cpu": spin.owner_cpu},
                          paths=paths)]
