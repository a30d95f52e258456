"""Rules about interrupt context: 1 hardintr-block, 8 line-masked, 12 intr-nesting."""

from __future__ import annotations

from emulator.checks.core import Rule, State, Violation
from emulator.checks.rules.helpers import BLOCKING, backtrace, sleeper, where


# 1 ---------------------------------------------------------------------------
class NoBlockInHardInterrupt(Rule):
    name = "hardintr-block"
    title = "no blocking in hard interrupt context"
    explanation = (
        "A handler that runs in interrupt context borrows the interrupted "
        "thread's stack and has no thread of its own to put to sleep: if it "
        "blocks on an adaptive mutex or sleeps, the scheduler switches away "
        "from the interrupted thread with an interrupt frame half-finished on "
        "its stack, and the line's in-service bit and the raised IPL stay "
        "behind it. The rule fires when a `lock.block` or `lwp.sleep` happens "
        "while the current thread is executing an interrupt frame "
        "(between `intr.enter` and `intr.exit` on that thread). Interrupt "
        "threads are threads: an ithread that blocks is not in hard context.")

    kinds = frozenset(BLOCKING)

    def on(self, ev, st, ctx):
        if ev["ev"] not in BLOCKING or not st.in_hard_interrupt(ev["cpu"]):
            return None
        who = sleeper(ev, st)
        what = f"blocks on {ev.get('lock')}" if ev["ev"] == "lock.block" else "sleeps"
        fr = st.frames_of(ev["cpu"])[-1]
        return [Violation(self.name, f"{who} {what} in {where(st, ev['cpu'])}",
                          fields={"lwp": who, "lock": ev.get("lock"), "line": fr.line},
                          paths=[(f"{who} blocking", backtrace(ctx, ev["cpu"]))])]


# 8 ---------------------------------------------------------------------------
class MaskedWhileHandlerBlocked(Rule):
    name = "line-masked"
    title = "a line stays masked while its handler thread is blocked, and no longer"
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
        "`ithread.done` (or at the end of the run).")

    def __init__(self, limit: int = 2_000_000) -> None:
        self.limit = limit
        self.blocked: dict = {}     # line -> (ithread, t)
        self.done: dict = {}        # line -> (ithread, t)
        self.reported: set = set()

    @staticmethod
    def _masked(st: State, line) -> bool:
        return line in st.held_lines if st.hold_seen else line in st.masked

    def on(self, ev, st, ctx):
        kind = ev["ev"]
        line = ev.get("line")
        out = []
        if kind in ("ithread.block", "ithread.done") and line is None:
            return None     # a borrower that serves no line (fast soft interrupt)
        if kind == "ithread.block":
            who = ev.get("ithread") or st.actor(ev)
            self.blocked[line] = (who, ev["t"])
            self.done.pop(line, None)
            if line not in st.masked and line not in st.held_lines:
                out.append(Violation(self.name,
                                     f"irq {line} is not masked while its handler {who} blocks",
                                     fields={"line": line, "ithread": who},
                                     paths=[(f"{who} blocking", backtrace(ctx, ev["cpu"]))]))
        elif kind == "pic.unmask" and line in self.blocked:
            who, t = self.blocked[line]
            out.append(Violation(self.name,
                                 f"irq {line} unmasked while its handler {who} is blocked "
                                 f"(since t={t})",
                                 fields={"line": line, "ithread": who},
                                 paths=[("unmasking", backtrace(ctx, ev["cpu"]))]))
        elif kind == "pic.release" and ev.get("held") and ("held", line) not in self.reported:
            self.reported.add(("held", line))
            who = st.actor(ev)
            self.done.pop(line, None)
            out.append(Violation(self.name,
                                 f"irq {line} left masked: {who} released it after its "
                                 "handler finished, but the line is still held",
                                 fields={"line": line, "ithread": who},
                                 paths=[(f"{who} releasing", backtrace(ctx, ev["cpu"]))]))
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
    title = "one active handler per interrupt level per CPU; iret with interrupts off"
    explanation = (
        "A handler must not be re-entered on its own CPU: the PIC's in-service "
        "bit (or the IPL) keeps the same line out until the handler has "
        "finished and sent its EOI. The rule fires when `intr.enter` for line "
        "N arrives while an interrupt frame for N is open on the current "
        "thread of that CPU, and when the kernel executes an `iret` out of "
        "an interrupt with interrupts enabled (`intr.exit` with `if`=1): "
        "between the last register restore and `iret` a new interrupt would "
        "nest on a frame already being torn down, and a storm grows the "
        "stack without bound.")

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
                                      paths=[("nested entry", backtrace(ctx, cpu))])]
        elif kind == "intr.exit" and ev.get("if") and ("iret", ev.get("eip")) not in self.reported:
            self.reported.add(("iret", ev.get("eip")))
            eip = ev.get("eip")
            where = f" at {eip:#x}" if isinstance(eip, int) else ""
            return [Violation(self.name, f"iret{where} with interrupts enabled "
                              f"(vector {ev.get('vector')})",
                              fields={"line": ev.get("line"), "vector": ev.get("vector")},
                              paths=[("returning", backtrace(ctx, cpu))])]
        return None
