"""Rules about threads and stacks: 7 pinned-run, 9 stack-bounds,
10 ithread-unpin, 11 liveness.

Contract
--------
Each class is a ``Rule`` (emulator/checks/core.py); rules/__init__.py says
what every rule returns and reports.  RULES.md explains each in a paragraph.
"""

from __future__ import annotations

from typing import Optional

from emulator.checks.core import Rule, State, Violation
from emulator.checks.rules.helpers import bt as _bt
from emulator.checks.rules.helpers import sleeper as _sleeper

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


# 9 ---------------------------------------------------------------------------
class StackBounds(Rule):
    DEVICE_KINDS = ("irq.", "pic.ack", "pic.eoi", "pic.mask", "pic.unmask", "inject",
                    "apic.", "ioapic.")
    name = "stack-bounds"
    needs = "stacks"
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

    _device: dict = {}      # event kind -> whether it is a machine's or device's (memo)

    def __init__(self) -> None:
        self.reported: set = set()

    def on(self, ev, st, ctx):
        cpu = ev["cpu"]
        kind = ev["ev"]
        if kind == "stack.switch":
            owner, esp = ev.get("to"), ev.get("esp")
            if owner is None or str(owner).startswith("?"):
                return self._once(("?", cpu, owner), Violation(
                    self.name, f"stack switch to ESP {esp:#x}, in no known stack"
                    if isinstance(esp, int) else "stack switch to an unknown stack",
                    fields={"owner": owner, "esp": esp},
                    paths=[("switching", _bt(ctx, cpu))]))
            # the stack switched to, then the one left (a list, not a set: a
            # set of names iterates in hash-seed order, and two reports made
            # at one switch must come out in the same order on every run)
            frm = ev.get("from")
            whos = (owner,) if frm is None or frm == owner else (owner, frm)
        else:
            device = self._device.get(kind)
            if device is None:
                device = self._device[kind] = kind.startswith(self.DEVICE_KINDS)
            if device:
                # the machine's and the devices' events come at any boundary, e.g.
                # between an ESP load and the observer's hook after it
                return None
            owner = st.stack_owner.get(cpu)
            # with no owner there is nothing to test; an owner already
            # reported (its red zone and its ESP are both reported once, keyed
            # by the owner alone) can give no new verdict: skip reading ESP
            # and the red zone, the costly part of every event
            if owner is None or owner in self.reported:
                return None
            esp = ev.get("esp") if kind == "intr.enter" and "esp" in ev else ctx.esp(cpu)
            whos = (owner,)
        out = []
        guard_dirty = getattr(ctx, "guard_dirty", None)
        for who in whos if guard_dirty is not None else ():
            dirty = guard_dirty(who)
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

    kinds = frozenset({"lwp.pin", "ithread.block", "lwp.unpin", "lwp.switch"})

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

    WAKES = frozenset({"lwp.sleep", "wchan.wakeup", "lwp.wakeup", "lwp.switch"})  # _wakeups'
    _work: dict = {}        # event kind -> whether it is thread work (WORK), memo

    def on(self, ev, st, ctx):
        t = ev["t"]
        kind, cpu = ev["ev"], ev["cpu"]
        out = self._wakeups(ev, st) if kind in self.WAKES else []
        # every event: starvation is a matter of time, not of any one kind.
        # No entry is due while t is within limit of the state's floor (at
        # most every entry's since); past it the floor becomes the real
        # minimum (one C-speed pass), and only then are the entries looked at
        runnable = st.runnable
        limit = self.limit
        due = False
        if runnable and t - st.runnable_floor > limit:
            st.runnable_floor = min(runnable.values())
            due = t - st.runnable_floor > limit
        for who, since in runnable.items() if due else ():
            if t - since > limit and (who, since) not in self.reported:
                self.reported.add((who, since))
                out.append(Violation(self.name, f"{who} is runnable and has not run for "
                                     f"{t - since} instructions (since t={since})",
                                     fields={"lwp": who}))
        work = self._work.get(kind)
        if work is None:
            work = self._work[kind] = kind.startswith(self.WORK)
        changed = kind == "lwp.switch"
        if kind == "cpu.idle":
            changed = self.halted[cpu] = True
        elif work:
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
        if self.idle_since is not None:
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
