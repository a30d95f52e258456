"""Rules about hard interrupts and lines: 1 hardintr-block, 8 line-masked,
12 intr-nesting.

Contract
--------
Each class is a ``Rule`` (emulator/checks/core.py); rules/__init__.py says
what every rule returns and reports.  RULES.md explains each in a paragraph.
"""

from __future__ import annotations

from typing import Optional

from emulator.checks.core import Rule, State, Violation
from emulator.checks.rules.helpers import BLOCKING
from emulator.checks.rules.helpers import bt as _bt
from emulator.checks.rules.helpers import hard_line as _hard_line
from emulator.checks.rules.helpers import sleeper as _sleeper
from emulator.checks.rules.helpers import thread_line as _thread_line
from emulator.checks.rules.helpers import where as _where

# 1 ---------------------------------------------------------------------------
class NoBlockInHardInterrupt(Rule):
    name = "hardintr-block"
    title = "no blocking, and no adaptive mutex, in hard interrupt context"
    explanation = (
        "A handler that runs in interrupt context borrows the interrupted "
        "thread's stack and has no thread of its own to put to sleep: if it "
        "blocks on an adaptive mutex or sleeps, the scheduler switches away "
        "from the interrupted thread with an interrupt frame half-finished on "
        "its stack, and the line's in-service bit and the raised IPL stay "
        "behind it. The rule fires when a `lock.block` or `lwp.sleep` happens "
        "while the current thread is executing an interrupt frame "
        "(between `intr.enter` and `intr.exit` on that thread). Interrupt "
        "threads are threads: an ithread that blocks is not in hard context. "
        "It fires too, the first time, when an adaptive mutex is taken (or "
        "tried: `lock.acquire`, `lock.contend`, `lock.spin` of kind "
        "`adaptive`) in hard interrupt context even though it was free: a "
        "sleep lock blocks whenever its owner is not running, so that "
        "handler blocks the first time the lock is busy (NetBSD's "
        "LOCKDEBUG: \"acquiring sleep lock from interrupt context\"; "
        "lockdep's might_sleep in hard irq). Each lock, and each blocking "
        "on one lock by one thread, is reported once.")
    blind = ("a sleep lock or a sleep the kernel does not label (`obs_lock_*`, "
             "`obs_sleep`); a hard handler that waits by polling instead of blocking "
             "(that is `spinout`'s).")

    kinds = frozenset(BLOCKING + ("lock.acquire", "lock.contend", "lock.spin"))

    def __init__(self) -> None:
        self.reported: set = set()

    def on(self, ev, st, ctx):
        cpu = ev["cpu"]
        if not st.in_hard_interrupt(cpu):
            return None
        kind = ev["ev"]
        who = _sleeper(ev, st)
        lock = ev.get("lock")
        line = _hard_line(st.frames_of(cpu))
        if kind in BLOCKING:
            key = ("block", who, lock)
            what = f"blocks on {lock}" if kind == "lock.block" else "sleeps"
            msg = f"{who} {what} in {_where(st, cpu)}"
        elif ev.get("kind") == "adaptive":
            key = ("adaptive", lock)
            msg = (f"{who} takes the adaptive mutex {lock} in {_where(st, cpu)}: a sleep "
                   "lock, it would block there whenever its owner is not running")
        else:
            return None
        if key in self.reported:
            return None
        self.reported.add(key)
        return [Violation(self.name, msg, fields={"lwp": who, "lock": lock, "line": line},
                          paths=[(f"{who} in the handler", _bt(ctx, cpu))])]


# 8 ---------------------------------------------------------------------------
class MaskedWhileHandlerBlocked(Rule):
    name = "line-masked"
    title = "a line stays masked until its handler thread is done, and no longer"
    explanation = (
        "When an interrupt thread blocks, its line must stay masked at the "
        "PIC, or the device interrupts again and the next interrupt finds "
        "the handler busy; once the handler finishes, the line must be "
        "unmasked, or the device is never heard from again. The kernel holds "
        "a line masked for its handler (`pic.hold`) apart from the IPL's "
        "masks. The rule fires when a line is neither held nor masked at "
        "`ithread.block`, when it is unmasked before `ithread.done`, when "
        "the kernel's release leaves the line held (`pic.release` with "
        "`held`), and when a line is still held `limit` instructions after "
        "`ithread.done` (or at the end of the run). And as Linux refuses a "
        "threaded handler without IRQF_ONESHOT: from `pic.hold` to "
        "`ithread.done` the line belongs to its handler, so the rule fires "
        "when the kernel releases it before (`pic.release` with the handler "
        "not done: the device can interrupt again while its handler runs, "
        "the first time, whether or not it does), and when a line's handler "
        "thread — a threaded handler is an ordinary thread, it never says "
        "`ithread.block` — blocks or sleeps with its line neither held nor "
        "masked.")
    blind = ("a handler thread the kernel does not name (`L_LINE`); a mask written "
             "without `pic_apply` (no `pic.hold`/`pic.release`); classic lines, which the "
             "IPL masks and nothing holds.")

    def __init__(self, limit: int = 2_000_000) -> None:
        self.limit = limit
        self.blocked: dict = {}     # line -> (ithread, t)
        self.done: dict = {}        # line -> (ithread, t)
        self.owed: dict = {}        # line -> t of its pic.hold, until ithread.done
        self.reported: set = set()

    # the kinds that move what the rule follows; any other event only ages
    # ``done`` (a line still held ``limit`` after its handler finished),
    # which has nothing to age while no line is done
    STEPS = frozenset({"ithread.block", "ithread.done", "lock.block", "lwp.sleep",
                       "pic.release", "pic.hold", "pic.unmask"})

    @staticmethod
    def _masked(st: State, line) -> bool:
        return line in st.held_lines if st.hold_seen else line in st.masked

    def on(self, ev, st, ctx):
        kind = ev["ev"]
        if not self.done and kind not in self.STEPS:
            return None
        line = ev.get("line")
        out = []
        if kind in ("ithread.block", "ithread.done") and line is None:
            return None     # a borrower that serves no line (fast soft interrupt)
        if kind in ("lock.block", "lwp.sleep"):
            return self._thread_blocks(ev, st, ctx)
        if kind == "pic.release" and not ev.get("held") and line in self.owed \
                and ("early", line) not in self.reported:
            self.reported.add(("early", line))
            who = st.actor(ev)
            out.append(Violation(self.name,
                                 f"irq {line} released by {who} before its handler finished "
                                 f"(held for it since t={self.owed[line]}): the device can "
                                 "interrupt again while the handler runs (not ONESHOT)",
                                 fields={"line": line, "ithread": who},
                                 paths=[(f"{who} releasing", _bt(ctx, ev["cpu"]))]))
        if kind == "pic.hold":
            self.owed[line] = ev["t"]
        elif kind == "ithread.done":
            self.owed.pop(line, None)
        if kind == "ithread.block":
            who = ev.get("ithread") or st.actor(ev)
            self.blocked[line] = (who, ev["t"])
            self.done.pop(line, None)
            if line not in st.masked and line not in st.held_lines:
                out.append(Violation(self.name,
                                     f"irq {line} is not masked while its handler {who} blocks",
                                     fields={"line": line, "ithread": who},
                                     paths=[(f"{who} blocking", _bt(ctx, ev["cpu"]))]))
        elif kind == "pic.unmask" and line in self.blocked:
            who, t = self.blocked[line]
            out.append(Violation(self.name,
                                 f"irq {line} unmasked while its handler {who} is blocked "
                                 f"(since t={t})",
                                 fields={"line": line, "ithread": who},
                                 paths=[("unmasking", _bt(ctx, ev["cpu"]))]))
        elif kind == "pic.release" and ev.get("held") and ("held", line) not in self.reported:
            self.reported.add(("held", line))
            who = st.actor(ev)
            self.done.pop(line, None)
            out.append(Violation(self.name,
                                 f"irq {line} left masked: {who} released it after its "
                                 "handler finished, but the line is still held",
                                 fields={"line": line, "ithread": who},
                                 paths=[(f"{who} releasing", _bt(ctx, ev["cpu"]))]))
        elif kind == "ithread.done":
            who = ev.get("ithread") or st.actor(ev)
            self.blocked.pop(line, None)
            if self._masked(st, line) or st.hold_seen:
                self.done[line] = (who, ev["t"])
        elif kind in ("pic.unmask", "pic.release", "pic.hold"):
            self.done.pop(line, None)       # released, or held again for a new interrupt
        for n, (who, t) in list(self.done.items()):
            if ev["t"] - t > self.limit:
                del self.done[n]
                if self._masked(st, n):
                    out.append(self._left_masked(n, who, t, ev["t"]))
        return out or None

    def _thread_blocks(self, ev, st, ctx):
        """A line's handler thread blocks or sleeps: its line must be held."""
        who = _sleeper(ev, st)
        line = _thread_line(ctx, who)
        if line is None or line not in self.owed or ("blocks", line) in self.reported \
                or line in st.held_lines or line in st.masked:
            return None
        self.reported.add(("blocks", line))
        what = f"blocks on {ev.get('lock')}" if ev["ev"] == "lock.block" else "sleeps"
        return [Violation(self.name, f"irq {line} is not masked while its handler thread "
                          f"{who} {what}", fields={"line": line, "ithread": who},
                          paths=[(f"{who} blocking", _bt(ctx, ev["cpu"]))])]

    def _left_masked(self, line, who, t, now):
        return Violation(self.name,
                         f"irq {line} left masked after its handler {who} finished "
                         f"(done at t={t}, still masked at t={now})",
                         fields={"line": line, "ithread": who})

    def finish(self, st, ctx):
        out = []
        for n, (who, t) in self.done.items():
            if self._masked(st, n):
                out.append(self._left_masked(n, who, t, st.t))
        return out


# 12 --------------------------------------------------------------------------
class OneHandlerPerLevel(Rule):
    name = "intr-nesting"
    needs = "machine"
    title = "one active handler per interrupt level per CPU; iret with interrupts off"
    explanation = (
        "A handler must not be re-entered on its own CPU: the PIC's in-service "
        "bit (or the IPL) keeps the same line out until the handler has "
        "finished and sent its EOI. The rule fires when `intr.enter` for line "
        "N arrives while an interrupt frame for N is open on the current "
        "thread of that CPU, and when the kernel executes an `iret` out of "
        "a device interrupt (a frame with a line) with interrupts enabled "
        "(`intr.exit` with `if`=1): "
        "between the last register restore and `iret` a new interrupt would "
        "nest on a frame already being torn down, and a storm grows the "
        "stack without bound.")
    blind = ("nesting of two different lines at the same IPL (the PIC allows it); an `iret` "
             "the capstone scan did not find (code written at run time).")

    kinds = frozenset({"intr.enter", "intr.exit"})

    def __init__(self) -> None:
        self.reported: set = set()

    def on(self, ev, st, ctx):
        kind = ev["ev"]
        cpu = ev["cpu"]
        if kind == "intr.enter":
            line = ev.get("line")
            if line is None:
                return None
            for fr in st.frames_of(cpu):
                if fr.line == line and ("nest", line) not in self.reported:
                    self.reported.add(("nest", line))
                    return [Violation(self.name, f"irq {line} entered again on cpu{cpu} "
                                      f"while its handler is active (entered at t={fr.t})",
                                      fields={"line": line, "lwp": st.current.get(cpu)},
                                      paths=[("nested entry", _bt(ctx, cpu))])]
        elif kind == "intr.exit" and ev.get("if") and ev.get("line") is not None \
                and ("iret", ev.get("eip")) not in self.reported:
            self.reported.add(("iret", ev.get("eip")))
            eip = ev.get("eip")
            where = f" at {eip:#x}" if isinstance(eip, int) else ""
            return [Violation(self.name, f"iret{where} with interrupts enabled "
                              f"(vector {ev.get('vector')})",
                              fields={"line": ev.get("line"), "vector": ev.get("vector")},
                              paths=[("returning", _bt(ctx, cpu))])]
        return None
