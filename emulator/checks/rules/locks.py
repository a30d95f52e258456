"""Rules about locks: 2 sleep-spin-ipl, 3 biglock-sleep, 4 mutex-owner,
5 lock-order (with the big lock), 6 irq-safety.

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
from emulator.checks.rules.helpers import serving as _serving
from emulator.checks.rules.helpers import sleeper as _sleeper

# 2 ---------------------------------------------------------------------------
class NoSleepWithSpinOrIpl(Rule):
    name = "sleep-spin-ipl"
    title = "no sleeping holding a spin mutex, at raised IPL, or in an interrupt thread"
    explanation = (
        "A spin mutex raises the IPL and is meant to be held for a few "
        "instructions; a thread that sleeps while holding one leaves the lock "
        "held (every other CPU spins on it) and the IPL raised across the "
        "switch. The rule fires when a thread blocks or sleeps while it holds "
        "a mutex of kind `spin`, or when the IPL the observer read at the "
        "sleep (`ipl` field) is above IPL_NONE. Interrupt threads run at "
        "their line's IPL and may *block* on a mutex there (the turnstile "
        "lends the owner their priority and the owner lets the mutex go), "
        "but NetBSD lets interrupt threads and soft interrupts block, never "
        "sleep: a sleep on a wait channel has no owner to hurry and no bound. "
        "So an `lwp.sleep` at raised IPL fires for every thread, a "
        "`lock.block` only for an ordinary LWP, and an interrupt thread that "
        "sleeps while it serves an interrupt — borrowing the LWP it pinned, "
        "or while the kernel holds its line masked for it — fires whatever "
        "its IPL (a handler thread running at IPL_NONE). Both acquisition "
        "and sleep paths are shown.")
    blind = ("a wait that is not a `sleep_on` (a handler polling a flag is `spinout`'s); "
             "a converted fast soft interrupt that sleeps (it borrows nobody any more and "
             "serves no line); spin mutexes taken without the `obs_` labels.")

    kinds = frozenset(BLOCKING)

    def __init__(self) -> None:
        self.reported: set = set()

    def on(self, ev, st, ctx):
        if ev["ev"] not in BLOCKING:
            return None
        who = _sleeper(ev, st)
        spins = [h for h in st.held.get(who, ()) if h.kind == "spin"]
        if spins:
            h = spins[-1]
            return [Violation(self.name, f"{who} sleeps holding spin mutex {h.lock}",
                              fields={"lwp": who, "lock": h.lock},
                              paths=[(f"{who} took {h.lock} at t={h.t}", h.bt),
                                     (f"{who} sleeps", _bt(ctx, ev["cpu"]))])]
        sleep = ev["ev"] == "lwp.sleep"
        serving, line = _serving(st, who, ctx) if sleep else (False, None)
        if serving:
            if ("serving", who) in self.reported:
                return None
            self.reported.add(("serving", who))
            wchan = ev.get("wchan")
            chan = f"wait channel {wchan:#x}" if isinstance(wchan, int) else "a wait channel"
            for_what = f"irq {line}" if line is not None else "a soft interrupt"
            return [Violation(self.name, f"{who} sleeps on {chan} while it serves {for_what}: "
                              "an interrupt thread may block on a mutex, never sleep",
                              fields={"lwp": who, "line": line, "wchan": wchan,
                                      "ipl": ev.get("ipl")},
                              paths=[(f"{who} sleeps", _bt(ctx, ev["cpu"]))])]
        ipl = ev.get("ipl")
        # an interrupt thread runs, and may block on a mutex, at its line's
        # IPL: the kernel saves it with the thread (that is the ithread design)
        if ipl and (sleep or str(who).startswith("lwp ")):
            return [Violation(self.name, f"{who} sleeps at raised IPL {ipl}",
                              fields={"lwp": who, "ipl": ipl, "lock": ev.get("lock")},
                              paths=[(f"{who} sleeps", _bt(ctx, ev["cpu"]))])]
        return None


# 3 ---------------------------------------------------------------------------
class BigLockAcrossSleep(Rule):
    name = "biglock-sleep"
    title = "the big lock is dropped across every sleep and restored after it"
    explanation = (
        "The big kernel lock is recursive and belongs to the running LWP only: "
        "the scheduler must release every hold when an LWP leaves the CPU and "
        "take the same depth back before the LWP continues. The rule fires "
        "when an LWP is switched out (`lwp.switch` from it) while its big-lock "
        "depth is not zero — the lock would then be held by an LWP that is not "
        "running — and when an LWP whose holds were dropped at a switch "
        "(`biglock.release` with `saved` = d) goes on, after it is switched "
        "back in and has retaken the lock, at a depth other than d (checked "
        "at its first event that is not a big-lock acquisition, or at "
        "`lwp.resume` when the kernel reports one). With several CPUs, an LWP "
        "that blocks or sleeps holding the big lock and wakes again without "
        "ever leaving its CPU (an AP's bound LWP halts its CPU to wait) held "
        "it all that time while not running: that is reported too.")
    blind = ("a depth changed without the big lock's labels (`L_BIGLOCKS` written by hand); "
             "on one CPU a big lock kept across a switch that nobody else wanted is reported"
             " all the same, as it must be; an AP spinning for the big lock (that is "
             "`spinout`'s).")

    # what the switch itself and the retaking do before the LWP goes on
    # (cpu_switchto restores the new LWP's IPL: cpu.ipl and the masks)
    QUIET = ("stack.switch", "biglock.acquire", "irq.raise", "irq.lower", "pic.ack",
             "pic.eoi", "pic.mask", "pic.unmask", "cpu.ipl")
    # the kinds ``on`` acts on; any other event matters only to a CPU
    # ``armed`` (an LWP switched in with a depth to retake)
    STEPS = frozenset({"lock.block", "lwp.sleep", "lock.wakeup", "lwp.wakeup",
                       "biglock.release", "lwp.switch", "lwp.resume"})

    def __init__(self) -> None:
        self.saved: dict = {}       # lwp -> depth dropped at its last switch
        self.armed: dict = {}       # cpu -> lwp switched in with a depth to retake
        self.reported: set = set()
        self.blocked: dict = {}     # lwp -> (t, depth) blocked holding it, not yet switched

    def _restored(self, who, have, cpu, ctx):
        want = self.saved.pop(who, None)
        if want is None or have == want or ("restore", who) in self.reported:
            return None
        self.reported.add(("restore", who))
        return [Violation(self.name,
                          f"{who} had big-lock depth {want} dropped at a switch and "
                          f"went on at depth {have}",
                          fields={"lwp": who, "depth": have},
                          paths=[(f"{who} going on", _bt(ctx, cpu))])]

    def on(self, ev, st, ctx):
        kind = ev["ev"]
        if not self.armed and kind not in self.STEPS:
            return None
        cpu = ev["cpu"]
        out = None
        armed = self.armed.get(cpu)
        if armed is not None and kind not in self.QUIET:
            del self.armed[cpu]
            if not (kind == "lwp.switch" and ev.get("to") == armed):
                out = self._restored(armed, st.biglock.get(armed, 0), cpu, ctx)
        if kind in ("lock.block", "lwp.sleep"):
            who = ev.get("lwp") if kind == "lwp.sleep" else st.actor(ev)
            depth = st.biglock.get(who, 0)
            if depth > 0:
                self.blocked[who] = (ev["t"], depth)
        elif kind in ("lock.wakeup", "lwp.wakeup") and ev.get("lwp") in self.blocked:
            who = ev["lwp"]
            t, depth = self.blocked.pop(who)
            if (ev.get("by") == who and st.running.get(who) is not None
                    and ("halt", who) not in self.reported):
                # woken while still on its CPU: it never switched, never dropped it
                self.reported.add(("halt", who))
                return (out or []) + [Violation(
                    self.name, f"{who} blocked at t={t} holding the big lock at depth "
                    f"{depth} and kept it while not running",
                    fields={"lwp": who, "depth": depth},
                    paths=[(f"{who} waking", _bt(ctx, cpu))])]
        if kind == "biglock.release" and ev.get("saved"):
            self.saved[ev.get("lwp") or st.actor(ev)] = ev["saved"]
        elif kind == "lwp.switch":
            old, new = ev.get("from"), ev.get("to")
            self.blocked.pop(old, None)
            if new in self.saved:
                self.armed[cpu] = new
            depth = st.biglock.get(old, 0)
            if old is not None and depth > 0 and old not in self.reported:
                self.reported.add(old)
                return (out or []) + [Violation(
                    self.name, f"{old} leaves the CPU holding the big lock at depth {depth}",
                    fields={"lwp": old, "depth": depth},
                    paths=[(f"{old} switching out", _bt(ctx, cpu))])]
        elif kind == "lwp.resume":
            who = ev.get("lwp") or st.actor(ev)
            self.armed.pop(cpu, None)
            return out or self._restored(who, ev.get("depth", st.biglock.get(who, 0)), cpu, ctx)
        return out


# 4 ---------------------------------------------------------------------------
class MutexOwnership(Rule):
    name = "mutex-owner"
    title = "a mutex is released by its owner, once, and never re-entered"
    explanation = (
        "mutex(9) mutexes are not recursive and belong to the LWP that took "
        "them. The rule fires on `lock.release` by a thread other than the "
        "owner, on a release of a mutex nobody holds (a double release), and "
        "on an attempt (`lock.acquire`, `lock.contend`, `lock.spin`, "
        "`lock.block`) by the thread that already holds it, which would "
        "deadlock on itself, and when a thread acquires a mutex whose owner "
        "word, read from memory right then, does not name it (`lock.mismatch`: "
        "a woken waiter that assumed a hand-off the releaser never made). "
        "Each kind of breakage is reported once per mutex.")
    blind = ("an owner word changed without `mutex_enter`/`mutex_exit` (a hand-rolled "
             "cmpxchg); a release by the owner that another thread was meant to do "
             "(ownership is per LWP, not per purpose).")

    kinds = frozenset({"lock.release", "lock.acquire", "lock.contend", "lock.spin",
                       "lock.block", "lock.mismatch"})

    def __init__(self) -> None:
        self.reported: set = set()

    def on(self, ev, st, ctx):
        kind = ev["ev"]
        if not kind.startswith("lock."):
            return None
        lock = ev.get("lock")
        who = st.actor(ev)
        owner = st.owner_of.get(lock)
        if kind == "lock.release":
            if owner is None:
                branch = "double"
                msg = f"{who} releases {lock}, which nobody holds (double release?)"
            elif owner != who:
                branch = "other"
                msg = f"{who} releases {lock}, which {owner} holds"
            else:
                return None
        elif kind in ("lock.acquire", "lock.contend", "lock.spin", "lock.block"):
            if owner is None or owner != who:
                return None
            branch = "again"
            msg = f"{who} takes {lock} again while holding it"
        elif kind == "lock.mismatch":
            branch = "word"
            word = ev.get("word")
            msg = (f"{who} acquires {lock}, but its owner word names "
                   f"{word if word else 'nobody (the mutex is free)'}")
            owner = word
        else:
            return None
        key = (lock, branch)
        if key in self.reported:
            return None
        self.reported.add(key)
        paths = [(f"{who}", _bt(ctx, ev["cpu"]))]
        for h in st.held.get(owner, ()) if owner else ():
            if h.lock == lock:
                paths.append((f"{owner} took {lock} at t={h.t}", h.bt))
        return [Violation(self.name, msg, fields={"lock": lock, "lwp": who, "owner": owner},
                          paths=paths)]


# 5 ---------------------------------------------------------------------------
class LockOrder(Rule):
    name = "lock-order"
    title = "no cycle in the lock order, the big lock included"
    explanation = (
        "Every time a thread takes (or starts waiting for) mutex B while "
        "holding mutex A, the edge A -> B is added to a graph, as lockdep and "
        "WITNESS do. An edge that closes a cycle means two paths take the same "
        "locks in opposite orders and can deadlock, even if this run did not. "
        "The big lock is a node too, `kernel_lock` (WITNESS orders Giant "
        "with the other locks): taking it while holding a mutex, or a mutex "
        "while holding it, adds an edge, so an ABBA between a mutex and the "
        "big lock is a cycle — on several CPUs one spins for the big lock "
        "holding the mutex while the other spins for the mutex holding the "
        "big lock. A re-entry of the recursive big lock adds nothing. As in "
        "lockdep, an edge joins two locks taken in the same context: a lock a "
        "hard interrupt handler takes is not ordered after the locks of the "
        "thread it interrupted (that pairing is irq-safety's). The report "
        "shows both acquisition paths: the one that closed the cycle and, for "
        "every edge of the path back, where it was first seen.")
    blind = ("orders this run never took (the graph holds only edges seen); locks without "
             "`obs_` labels; an order across contexts (a lock a hard handler takes is not "
             "ordered after the interrupted thread's: `irq-safety` covers that pairing).")

    ATTEMPTS = ("lock.acquire", "lock.contend", "lock.spin", "lock.block")
    BIG = "kernel_lock"
    kinds = frozenset(ATTEMPTS + ("biglock.acquire", "biglock.contend", "biglock.release"))

    def __init__(self) -> None:
        self.edges: dict = {}       # (a, b) -> (t, thread, bt_a, bt_b)
        self.succ: dict = {}        # a -> [b]
        self.reported: set = set()
        self.seen_attempt: set = set()
        self.big: dict = {}         # thread -> [(context depth, t, bt)] per big-lock hold

    def _path(self, src: str, dst: str) -> Optional[list]:
        """Edges of a path src ->* dst, breadth first; None when there is none."""
        prev = {src: None}
        queue = [src]
        while queue:
            nxt = []
            for a in queue:
                for b in self.succ.get(a, ()):
                    if b in prev:
                        continue
                    prev[b] = a
                    if b == dst:
                        path = []
                        while prev[b] is not None:
                            path.append((prev[b], b))
                            b = prev[b]
                        return path[::-1]
                    nxt.append(b)
            queue = nxt
        return None

    def _held(self, st: State, who, depth: int) -> list:
        """(lock, t, bt) of what ``who`` holds in this context."""
        out = [(h.lock, h.t, h.bt) for h in st.held.get(who, ()) if h.depth == depth]
        hold = next((e for e in self.big.get(who, ()) if e[0] == depth), None)
        if hold is not None:
            out.append((self.BIG, hold[1], hold[2]))
        return out

    def _novel(self, who, lock, depth: int, st: State) -> bool:
        """Whether ``who`` holds, in this context, a lock other than ``lock``
        with no edge to it yet.  When it does not, ``_attempt`` would add no
        edge and so could close no cycle: a held/lock pair already in the
        graph was checked when the edge was added, and a verdict depends on
        the graph alone, which only grows by new edges."""
        edges = self.edges
        for h in st.held.get(who, ()):
            if h.depth == depth and h.lock != lock and (h.lock, lock) not in edges:
                return True
        if lock == self.BIG or (self.BIG, lock) in edges:
            return False
        return any(e[0] == depth for e in self.big.get(who, ()))

    def on(self, ev, st, ctx):
        kind = ev["ev"]
        cpu = ev["cpu"]
        if kind == "biglock.release":
            holds = self.big.get(ev.get("lwp") or st.actor(ev))
            if holds:
                del holds[max(ev.get("depth") or 0, 0):]
            return None
        depth = len(st.frames_of(cpu))
        if kind in ("biglock.acquire", "biglock.contend"):
            who = ev.get("lwp") or st.actor(ev)
            lock = self.BIG
            holds = self.big.setdefault(who, [])
            if any(e[0] == depth for e in holds):
                if kind == "biglock.acquire":
                    holds.append(holds[-1])     # a re-entry: nothing new
                return None
            out = self._attempt(who, lock, depth, ev, st, ctx)
            if kind == "biglock.acquire":
                holds.append((depth, ev["t"], _bt(ctx, cpu)))
            return out
        return self._attempt(st.actor(ev), ev.get("lock"), depth, ev, st, ctx)

    def _attempt(self, who, lock, depth, ev, st, ctx):
        if not self._novel(who, lock, depth, st):
            return None
        out = []
        bt_now = None
        for a, ta, bta in self._held(st, who, depth):
            if a == lock or (a, lock) in self.edges:
                continue
            if bt_now is None:
                bt_now = _bt(ctx, ev["cpu"])
            back = self._path(lock, a)
            self.edges[(a, lock)] = (ev["t"], who, bta, bt_now)
            self.succ.setdefault(a, []).append(lock)
            if back is None:
                continue
            cycle = frozenset([(a, lock)] + back)
            if cycle in self.reported:
                continue
            self.reported.add(cycle)
            order = " -> ".join([a, lock] + [e[1] for e in back])
            paths = [(f"this path: {who} holds {a} (taken at t={ta})", bta),
                     (f"this path: {who} then takes {lock} at t={ev['t']}", bt_now)]
            for (x, y) in back:
                t, thr, bx, by = self.edges[(x, y)]
                paths.append((f"other path: {thr} held {x}", bx))
                paths.append((f"other path: {thr} then took {y} at t={t}", by))
            out.append(Violation(self.name, f"lock order cycle {order}: {who} takes {lock} "
                                 f"while holding {a}, but {lock} was held before {a} elsewhere",
                                 fields={"lock": lock, "held": a, "lwp": who},
                                 paths=paths))
        return out or None


# 6 ---------------------------------------------------------------------------
LINES = frozenset(range(16))        # the two 8259s' lines (IO APIC lines past 15: none yet)


class IrqSafety(Rule):
    name = "irq-safety"
    title = "a lock taken for an interrupt is never taken with that interrupt enabled"
    explanation = (
        "If a handler running in hard interrupt context takes lock L for IRQ "
        "line N, then a thread that takes L while line N can still interrupt "
        "it (N unmasked at the PIC, which is where the IPL lives) can be "
        "interrupted by that handler on the same CPU, which then spins or "
        "blocks forever on a lock its own CPU holds — lockdep's IN-HARDIRQ vs "
        "HARDIRQ-ON. An interrupt thread that borrows the interrupted LWP "
        "(or runs while the kernel holds its line masked for it) is in the "
        "same position for a *spin* mutex: it cannot block, and the holder "
        "cannot run under it, so its spin mutexes count as taken for line N "
        "too (an adaptive mutex it may block on, converting, and the holder "
        "goes on). A use is recorded at the attempt (`lock.contend`, "
        "`lock.spin`), not only at a successful `lock.acquire`, so a handler "
        "that spins forever on the lock its interrupted thread holds is "
        "caught at once. The rule records both usages per lock and fires "
        "when they meet, in either order, the first time both have been "
        "seen — whether or not the interrupt ever came at the wrong moment — "
        "with both acquisition paths. With several CPUs a line counts as "
        "enabled only on a CPU it is delivered to (the 8259s' lines reach the "
        "BSP only; a CPU counts once a line interrupted it): on another CPU "
        "the handler cannot interrupt the holder, it only waits for it. And "
        "where the lines go through the IO APIC the IPL is each CPU's own (its "
        "LAPIC TPR, `cpu.ipl`), not a mask at the line: a line whose IPL "
        "(`pic.unmask via=ioapic`'s `ipl`) is at or below the CPU's cannot "
        "interrupt it.")
    blind = ("chains — a lock taken for line N held while taking a lock used with N "
             "enabled — which lockdep also reports; adaptive mutexes an interrupt thread "
             "takes (it may block on them); a line on a CPU the run never saw it reach.")

    ATTEMPTS = ("lock.acquire", "lock.contend", "lock.spin")
    kinds = frozenset(ATTEMPTS + ("intr.enter", "cpu.ipl", "pic.mask", "pic.unmask"))

    def __init__(self) -> None:
        self.hard: dict = {}        # lock -> {line: (t, thread, bt, where)}
        self.enabled: dict = {}     # lock -> {line: (t, thread, bt)}
        self.reported: set = set()
        self.line_cpus: set = {0}   # CPUs the lines are delivered to
        self.cpu_ipl: dict = {}     # cpu -> its IPL (cpu.ipl)
        self.line_ipl: dict = {}    # line -> its IPL, when its IO APIC entry says

    def on(self, ev, st, ctx):
        kind = ev["ev"]
        if kind not in self.ATTEMPTS:
            if kind == "intr.enter" and ev.get("line") is not None:
                self.line_cpus.add(ev["cpu"])
            elif kind == "cpu.ipl":
                self.cpu_ipl[ev["cpu"]] = ev.get("ipl")
            elif kind in ("pic.mask", "pic.unmask") and ev.get("ipl") is not None:
                self.line_ipl[ev.get("line")] = ev["ipl"]
            return None
        cpu = ev["cpu"]
        lock = ev.get("lock")
        who = st.actor(ev)
        frames = st.frames_of(cpu)
        out = []
        if frames:
            line = _hard_line(frames)
            if line is None:
                return None
            self._hard_use(lock, line, ev, who, "in hard interrupt context", ctx, out)
            return self._clean(out)
        served = None
        if ev.get("kind") == "spin":
            serving, served = _serving(st, who, ctx)
            if serving and served is not None:
                self._hard_use(lock, served, ev, who, f"in its interrupt thread {who}",
                               ctx, out)
        # "enabled" is the line unmasked at the PIC, which is where the
        # kernel's IPL lives; IF is not consulted, since the mutex code
        # itself runs its few instructions with interrupts off
        if cpu not in self.line_cpus:
            return self._clean(out)
        uses = self.enabled.setdefault(lock, {})
        # only lines not yet recorded for this lock can add a use (a use is
        # kept once, with its first path): once a lock has been seen with
        # every unmasked line, the set difference is empty and that is all
        free = LINES.difference(st.masked, uses)
        if served is not None:
            free = free - {served}
        if not free:
            return self._clean(out)
        ipl = self.cpu_ipl.get(cpu) or 0
        line_ipl = self.line_ipl
        lines = [n for n in sorted(free) if line_ipl.get(n, ipl + 1) > ipl]
        if not lines:
            return self._clean(out)
        bt = _bt(ctx, cpu)
        for n in lines:
            uses[n] = (ev["t"], who, bt)
            hard = self.hard.get(lock, {}).get(n)
            if hard is not None:
                out.append(self._violation(lock, n, hard, uses[n]))
        return self._clean(out)

    def _hard_use(self, lock, line, ev, who, where, ctx, out) -> None:
        uses = self.hard.setdefault(lock, {})
        if line in uses:
            return
        uses[line] = (ev["t"], who, _bt(ctx, ev["cpu"]), where)
        other = self.enabled.get(lock, {}).get(line)
        if other is not None:
            out.append(self._violation(lock, line, uses[line], other))

    def _violation(self, lock, line, hard, thread):
        if (lock, line) in self.reported:
            return None
        self.reported.add((lock, line))
        ht, hw, hbt, where = hard
        tt, tw, tbt = thread
        return Violation(self.name,
                         f"{lock} is taken by the irq {line} handler {where} "
                         f"and by {tw} with irq {line} enabled",
                         fields={"lock": lock, "line": line, "lwp": tw},
                         paths=[(f"{hw} in the irq {line} handler took {lock} at t={ht}"
                                 if where.startswith("in hard") else
                                 f"{hw}, the irq {line} interrupt thread, took {lock} at t={ht}",
                                 hbt),
                                (f"{tw} took {lock} with irq {line} enabled at t={tt}", tbt)])

    @staticmethod
    def _clean(out):
        return [v for v in out if v is not None] or None if out else None
