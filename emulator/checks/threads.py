"""Rules 7-12: pinned LWPs, masked lines, stacks, unpinning, liveness,
interrupt nesting (rules 1-6 and the list of all rules: rules.py).

Contract
--------
As rules.py: each rule is a ``Rule`` (emulator/checks/core.py) that sees
every event with the state just before it, returns violations naming the
lock, LWP or line in ``fields`` with symbolised backtraces in ``paths``, and
reports a given object once.  Thresholds are constructor arguments.
"""

from __future__ import annotations

from typing import Optional

from emulator.checks.core import Rule, State, Violation
from emulator.checks.helpers import bt as _bt
from emulator.checks.helpers import sleeper as _sleeper
from emulator.checks.helpers import thread_line as _thread_line


# 7 ---------------------------------------------------------------------------
class PinnedNotRun(Rule):
    name = "pinned-run"
    title = "a pinned LWP is never run while pinned"
    explanation = (
        "An interrupt thread (or a fast soft interrupt) borrows the context of "
        "the LWP it interrupted and pins it: that LWP's registers are on the "
        "stack the handler returns through, so it must not run, here or on "
        "another CPU, until it is unpinned. The rule fires when `lwp.switch` "
        "switches to a pinned LWP, except the pinner returning to it "
        "normally (the pinner has not blocked).")
    blind = ("a pinned LWP's stack or registers used without a switch to it; pins made "
             "outside `lwp_borrow` (no `obs_pin`).")

    kinds = frozenset({"lwp.switch"})

    def __init__(self) -> None:
        self.reported: set = set()

    def on(self, ev, st, ctx):
        if ev["ev"] != "lwp.switch":
            return None
        new = ev.get("to")
        pinner = st.pinned.get(new)
        if pinner is None:
            return None
        if ev.get("from") == pinner and pinner not in st.asleep:
            return None
        if (new, pinner) in self.reported:
            return None
        self.reported.add((new, pinner))
        return [Violation(self.name, f"{new} runs while pinned by {pinner}",
                          fields={"lwp": new, "pinner": pinner},
                          paths=[(f"switch to {new}", _bt(ctx, ev["cpu"]))])]


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

    @staticmethod
    def _masked(st: State, line) -> bool:
        return line in st.held_lines if st.hold_seen else line in st.masked

    def on(self, ev, st, ctx):
        kind = ev["ev"]
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


# 9 ---------------------------------------------------------------------------
class StackBounds(Rule):
    DEVICE_KINDS = ("irq.", "pic.ack", "pic.eoi", "pic.mask", "pic.unmask", "inject",
                    "apic.", "ioapic.")
    name = "stack-bounds"
    title = "the stack pointer stays inside its owner's stack"
    explanation = (
        "Every stack belongs to an owner — an LWP's kernel stack, an "
        "interrupt thread's stack, a per-CPU interrupt stack, the boot stack "
        "— whose bounds the kernel exports. At every stack switch and at "
        "every event the observer reports for a CPU, ESP must lie inside the "
        "stack of the owner it was last switched to; an ESP below the bottom "
        "is an overflow, reported with the owner's name and by how many "
        "bytes. An overflow that unwinds before any event is caught by the "
        "red zone the kernel leaves below each LWP stack: any byte written "
        "there is reported. A switch to an ESP in no known stack is "
        "reported too.")
    blind = ("an overflow that unwinds before any event and writes only zeros (the red zone "
             "is compared with zero), and one of a stack with no red zone (a per-CPU "
             "interrupt stack, an AP's stack) between two events.")

    def __init__(self) -> None:
        self.reported: set = set()

    def on(self, ev, st, ctx):
        cpu = ev["cpu"]
        if ev["ev"] == "stack.switch":
            owner, esp = ev.get("to"), ev.get("esp")
            if owner is None or str(owner).startswith("?"):
                return self._once(("?", cpu, owner), Violation(
                    self.name, f"stack switch to ESP {esp:#x}, in no known stack"
                    if isinstance(esp, int) else "stack switch to an unknown stack",
                    fields={"owner": owner, "esp": esp},
                    paths=[("switching", _bt(ctx, cpu))]))
        elif ev["ev"].startswith(self.DEVICE_KINDS):
            # the machine's and the devices' events come at any boundary, e.g.
            # between an ESP load and the observer's hook after it
            return None
        else:
            owner = st.stack_owner.get(cpu)
            esp = ev.get("esp") if ev["ev"] in ("intr.enter",) and "esp" in ev else ctx.esp(cpu)
        out = []
        for who in {owner, ev.get("from") if ev["ev"] == "stack.switch" else None} - {None}:
            dirty = getattr(ctx, "guard_dirty", lambda o: None)(who)
            if dirty is not None:
                lo, hi, n = dirty
                got = self._once(who, Violation(
                    self.name, f"stack of {who} overflowed into its red zone "
                    f"({n} bytes written in {lo:#x}..{hi:#x})",
                    fields={"owner": who, "lwp": who},
                    paths=[(f"{who}, the first look after the overflow", _bt(ctx, cpu))]))
                out.extend(got or ())
        if out:
            return out
        if owner is None or esp is None:
            return None
        region = ctx.stack_region(owner)
        if region is None:
            return None
        lo, hi = region
        if lo <= esp <= hi:
            return None
        how = (f"overflows by {lo - esp} bytes" if esp < lo
               else f"is {esp - hi} bytes above its top")
        return self._once(owner, Violation(
            self.name, f"stack of {owner} {how} (ESP {esp:#x}, stack {lo:#x}..{hi:#x})",
            fields={"owner": owner, "lwp": owner, "esp": esp},
            paths=[(f"{owner}", _bt(ctx, cpu))]))

    def _once(self, key, v):
        if key in self.reported:
            return None
        self.reported.add(key)
        return [v]


# 10 --------------------------------------------------------------------------
class IthreadUnpinOnce(Rule):
    name = "ithread-unpin"
    title = "an interrupt thread that blocks releases its pinned LWP exactly once"
    explanation = (
        "When an interrupt thread blocks it becomes a real thread, and the "
        "LWP it borrowed must be unpinned so that it can run again — once: "
        "not at all leaves it stuck behind a handler that may wait for it "
        "(a deadlock), twice corrupts the pin count. The rule fires when a "
        "blocked interrupt thread leaves the CPU with its LWP still pinned, "
        "and when an LWP is unpinned that is not pinned.")
    blind = ("pins and unpins outside `lwp_borrow` and `mi_switch`'s labels; an interrupt "
             "thread that never blocks (it unpins through `obs_unpin_return`, once by "
             "construction).")

    def __init__(self) -> None:
        self.pins: dict = {}        # ithread -> lwp it pinned
        self.blocked: dict = {}     # ithread -> lwp pinned at block time

    def on(self, ev, st, ctx):
        kind = ev["ev"]
        if kind == "lwp.pin":
            self.pins[st.actor(ev)] = ev.get("lwp")
        elif kind == "ithread.block":
            who = ev.get("ithread") or st.actor(ev)
            lwp = self.pins.get(who)
            if lwp is not None and st.pinned.get(lwp) is not None:
                self.blocked[who] = lwp
        elif kind == "lwp.unpin":
            lwp = ev.get("lwp")
            if lwp not in st.pinned:
                who = st.actor(ev)
                return [Violation(self.name, f"{who} unpins {lwp}, which is not pinned "
                                  "(released twice?)", fields={"lwp": lwp, "ithread": who},
                                  paths=[(f"{who} unpinning", _bt(ctx, ev["cpu"]))])]
            for ith, l in list(self.blocked.items()):
                if l == lwp:
                    del self.blocked[ith]
        elif kind == "lwp.switch":
            old = ev.get("from")
            lwp = self.blocked.pop(old, None)
            if lwp is not None and st.pinned.get(lwp) is not None:
                return [Violation(self.name, f"{old} blocked and left the CPU with {lwp} "
                                  "still pinned", fields={"lwp": lwp, "ithread": old},
                                  paths=[(f"{old} switching out", _bt(ctx, ev["cpu"]))])]
        return None


# 11 --------------------------------------------------------------------------
class Liveness(Rule):
    name = "liveness"
    title = "every runnable LWP runs, and the machine never idles with work asleep forever"
    explanation = (
        "A runnable LWP that does not get a CPU for `limit` instructions is "
        "starved (a lost preemption, a run queue that lost it). And when every "
        "CPU is idle and has been for `limit` instructions while some LWP "
        "sleeps, nothing will ever wake it: the classic lost wake-up, where "
        "the condition was set and the wake-up sent between the sleeper's "
        "test and its sleep. That lost wake-up is also caught directly: a "
        "`wchan.wakeup` that found no sleeper, then, within 100,000 "
        "instructions, the LWP that was running meanwhile sleeping on the "
        "same channel and woken only by its timeout (`lwp.wakeup` with `how` "
        "= timeout: the clock ends timed sleeps, and says so, so an LWP "
        "woken that way counts as runnable from then). All are reported with the LWP and "
        "how long it waited; the machine's own deadlock report (all CPUs halted with "
        "interrupts off) ends the run separately. With several CPUs a CPU is idle "
        "when it runs its idle LWP, or when it said so (`cpu.idle`: an AP waiting "
        "for a cross-call) and has done no thread work since, or when its bound "
        "LWP (`ap cpuN`, which cannot switch away) blocked on a mutex by halting.")
    blind = ("starvation shorter than `limit`; a lost wake-up whose sleeper has no timeout "
             "while some CPU stays busy (nothing ever idles); an LWP that runs but makes no "
             "progress (a loop: running, not starved).")

    # thread work on a CPU that said it idles ends its idleness
    WORK = ("lock.", "biglock.", "lwp.", "softint.", "handler.", "ithread.", "wchan.")

    def __init__(self, limit: int = 10_000_000, idle_prefix: str = "idle") -> None:
        self.limit = limit
        self.idle_prefix = idle_prefix
        self.reported: set = set()
        self.idle_since: Optional[int] = None
        self.sleeping_on: dict = {}     # lwp -> wchan it sleeps on
        self.unheard: dict = {}         # wchan -> t of a wakeup that found no sleeper
        self.resumed: dict = {}         # lwp -> t it last got the CPU
        self.suspect: dict = {}         # lwp -> (wchan, t unheard, t sleep)
        self.window = 100_000           # a sleep this soon after the unheard wake-up
        self.halted: dict = {}          # cpu -> idle since its cpu.idle (or halted blocked)

    def _lost(self, who, why):
        w, tw, ts = self.suspect.pop(who)
        if (who, "lost") in self.reported:
            return []
        self.reported.add((who, "lost"))
        return [Violation(self.name, f"lost wake-up: {who} slept on {w:#x} at t={ts}, after "
                          f"a wake-up on {w:#x} at t={tw} had found nobody asleep, and {why}",
                          fields={"lwp": who, "wchan": w})]

    def _wakeups(self, ev, st):
        kind = ev["ev"]
        out = []
        if kind == "lwp.sleep":
            who, w = ev.get("lwp"), ev.get("wchan")
            self.sleeping_on[who] = w
            tw = self.unheard.get(w)
            if (tw is not None and tw >= self.resumed.get(who, 0)
                    and ev["t"] - tw <= self.window):
                self.suspect[who] = (w, tw, ev["t"])
        elif kind == "wchan.wakeup":
            w = ev.get("wchan")
            if w not in self.sleeping_on.values():
                self.unheard[w] = ev["t"]
        elif kind == "lwp.wakeup":
            who = ev.get("lwp")
            self.sleeping_on.pop(who, None)
            if ev.get("how") == "timeout" and who in self.suspect:
                out += self._lost(who, f"only its timeout woke it at t={ev['t']}")
            self.suspect.pop(who, None)
        elif kind == "lwp.switch":
            new = ev.get("to")
            self.resumed[new] = ev["t"]
            if new in self.sleeping_on:
                # back on the CPU with no wake-up: its sleep timed out
                self.sleeping_on.pop(new, None)
                if new in self.suspect:
                    out += self._lost(new, f"only its timeout woke it at t={ev['t']}")
        return out

    def on(self, ev, st, ctx):
        t = ev["t"]
        out = self._wakeups(ev, st)
        for who, since in st.runnable.items():
            if t - since > self.limit and (who, since) not in self.reported:
                self.reported.add((who, since))
                out.append(Violation(self.name, f"{who} is runnable and has not run for "
                                     f"{t - since} instructions (since t={since})",
                                     fields={"lwp": who}))
        kind, cpu = ev["ev"], ev["cpu"]
        changed = kind == "lwp.switch"
        if kind == "cpu.idle":
            changed = self.halted[cpu] = True
        elif kind.startswith(self.WORK):
            if kind == "lock.block" and str(st.actor(ev)).startswith("ap "):
                changed = self.halted[cpu] = True       # an AP halts until the lock is free
            elif self.halted.get(cpu):
                self.halted[cpu] = False
                changed = True
        if changed:
            cur = dict(st.current)
            if kind == "lwp.switch":
                cur[cpu] = ev.get("to")
            all_idle = bool(cur) and all(str(n).startswith(self.idle_prefix)
                                         or self.halted.get(c) for c, n in cur.items())
            if all_idle and self.idle_since is None:
                self.idle_since = t
            elif not all_idle:
                self.idle_since = None
        out.extend(self._quiet(st, t))
        return out or None

    def _quiet(self, st, t):
        if self.idle_since is None or t - self.idle_since <= self.limit or st.runnable:
            return []
        out = []
        for who, (since, why) in st.asleep.items():
            if str(who).startswith(self.idle_prefix) or (who, "asleep") in self.reported:
                continue
            self.reported.add((who, "asleep"))
            out.append(Violation(self.name, f"every CPU idle for {t - self.idle_since} "
                                 f"instructions while {who} sleeps (since t={since}): "
                                 "nothing will wake it", fields={"lwp": who}))
        return out

    def finish(self, st, ctx):
        out = []
        for who, since in st.runnable.items():
            if st.t - since > self.limit and (who, since) not in self.reported:
                out.append(Violation(self.name, f"{who} is runnable and has not run for "
                                     f"{st.t - since} instructions (since t={since})",
                                     fields={"lwp": who}))
        return out + self._quiet(st, st.t)


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
    blind = ("nesting of two different lines at the same IPL (the PIC allows it); an `iret` "
             "the capstone scan did not find (code written at run time).")

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
        elif kind == "intr.exit" and ev.get("if") and ("iret", ev.get("eip")) not in self.reported:
            self.reported.add(("iret", ev.get("eip")))
            eip = ev.get("eip")
            where = f" at {eip:#x}" if isinstance(eip, int) else ""
            return [Violation(self.name, f"iret{where} with interrupts enabled "
                              f"(vector {ev.get('vector')})",
                              fields={"line": ev.get("line"), "vector": ev.get("vector")},
                              paths=[("returning", _bt(ctx, cpu))])]
        return None
