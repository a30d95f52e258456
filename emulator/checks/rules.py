"""The twelve rules irqlab checks while the kernel runs.

Contract
--------
Each rule is a ``Rule`` (emulator/checks/core.py): it sees every event with
the state just before it, and returns violations that name the lock, LWP or
line involved in ``fields`` and carry symbolised backtraces in ``paths``.
Each reports a given object once (a second report of the same broken
invariant would bury the first).  ``RULES.md`` beside this file explains
every rule in one paragraph; ``all_rules()`` gives fresh instances in the
order the issue numbers them.  Thresholds are constructor arguments.
"""

from __future__ import annotations

from typing import Optional

from emulator.checks.core import Rule, State, Violation


def _bt(ctx, cpu: int) -> list:
    return ctx.backtrace(cpu) or []


def _where(st: State, cpu: int) -> str:
    frames = st.frames_of(cpu)
    if not frames:
        return "thread context"
    fr = frames[-1]
    if fr.line is not None:
        return f"hard interrupt context (irq {fr.line}, vector {fr.vector:#x})"
    return f"hard interrupt context (vector {fr.vector:#x})" if fr.vector is not None \
        else "hard interrupt context"


BLOCKING = ("lock.block", "lwp.sleep")


def _sleeper(ev: dict, st: State) -> Optional[str]:
    if ev["ev"] == "lwp.sleep" and ev.get("lwp"):
        return ev["lwp"]
    return st.actor(ev)


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
        who = _sleeper(ev, st)
        what = f"blocks on {ev.get('lock')}" if ev["ev"] == "lock.block" else "sleeps"
        fr = st.frames_of(ev["cpu"])[-1]
        return [Violation(self.name, f"{who} {what} in {_where(st, ev['cpu'])}",
                          fields={"lwp": who, "lock": ev.get("lock"), "line": fr.line},
                          paths=[(f"{who} blocking", _bt(ctx, ev["cpu"]))])]


# 2 ---------------------------------------------------------------------------
class NoSleepWithSpinOrIpl(Rule):
    name = "sleep-spin-ipl"
    title = "no sleeping while holding a spin mutex or at raised IPL"
    explanation = (
        "A spin mutex raises the IPL and is meant to be held for a few "
        "instructions; a thread that sleeps while holding one leaves the lock "
        "held (every other CPU spins on it) and the IPL raised across the "
        "switch. The rule fires when a thread blocks or sleeps while it holds "
        "a mutex of kind `spin`, or when the IPL the observer read at the "
        "sleep (`ipl` field) is above IPL_NONE for an ordinary LWP (interrupt "
        "and soft-interrupt threads run at their own IPL and keep it across "
        "a block by design). Both acquisition and sleep paths are shown.")

    kinds = frozenset(BLOCKING)

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
        ipl = ev.get("ipl")
        # an interrupt thread runs, and may block, at its line's IPL: the
        # kernel saves it with the thread (that is the ithread design)
        if ipl and str(who).startswith("lwp "):
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

    # what the switch itself and the retaking do before the LWP goes on
    # (cpu_switchto restores the new LWP's IPL: cpu.ipl and the masks)
    QUIET = ("stack.switch", "biglock.acquire", "irq.raise", "irq.lower", "pic.ack",
             "pic.eoi", "pic.mask", "pic.unmask", "cpu.ipl")

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
    title = "no cycle in the lock order"
    explanation = (
        "Every time a thread takes (or starts waiting for) mutex B while "
        "holding mutex A, the edge A -> B is added to a graph, as lockdep and "
        "WITNESS do. An edge that closes a cycle means two paths take the same "
        "locks in opposite orders and can deadlock, even if this run did not. "
        "The report shows both acquisition paths: the one that closed the "
        "cycle and, for every edge of the path back, where it was first "
        "seen.")

    ATTEMPTS = ("lock.acquire", "lock.contend", "lock.spin", "lock.block")
    kinds = frozenset(ATTEMPTS)

    def __init__(self) -> None:
        self.edges: dict = {}       # (a, b) -> (t, thread, bt_a, bt_b)
        self.succ: dict = {}        # a -> [b]
        self.reported: set = set()
        self.seen_attempt: set = set()

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

    def on(self, ev, st, ctx):
        if ev["ev"] not in self.ATTEMPTS:
            return None
        who = st.actor(ev)
        lock = ev.get("lock")
        out = []
        bt_now = None
        for h in st.held.get(who, ()):
            a = h.lock
            if a == lock or (a, lock) in self.edges:
                continue
            if bt_now is None:
                bt_now = _bt(ctx, ev["cpu"])
            back = self._path(lock, a)
            self.edges[(a, lock)] = (ev["t"], who, h.bt, bt_now)
            self.succ.setdefault(a, []).append(lock)
            if back is None:
                continue
            cycle = frozenset([(a, lock)] + back)
            if cycle in self.reported:
                continue
            self.reported.add(cycle)
            order = " -> ".join([a, lock] + [e[1] for e in back])
            paths = [(f"this path: {who} holds {a} (taken at t={h.t})", h.bt),
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
class IrqSafety(Rule):
    name = "irq-safety"
    title = "a lock taken in hard interrupt context is never taken with that interrupt enabled"
    explanation = (
        "If a handler running in hard interrupt context takes lock L for IRQ "
        "line N, then a thread that takes L while line N can still interrupt "
        "it (N unmasked at the PIC, which is where the IPL lives) can be "
        "interrupted by that handler on the same CPU, which then spins or "
        "blocks forever on a lock its own CPU holds — lockdep's IN-HARDIRQ vs "
        "HARDIRQ-ON. The rule records both usages per lock and fires when "
        "they meet, in either order, with both acquisition paths. With several "
        "CPUs a line counts as enabled only on a CPU it is delivered to (the "
        "8259s' lines reach the BSP only; a CPU counts once a line interrupted "
        "it): on another CPU the handler cannot interrupt the holder, it only "
        "waits for it.")

    kinds = frozenset({"lock.acquire", "intr.enter"})

    def __init__(self) -> None:
        self.hard: dict = {}        # lock -> {line: (t, thread, bt)}
        self.enabled: dict = {}     # lock -> {line: (t, thread, bt)}
        self.reported: set = set()
        self.line_cpus: set = {0}   # CPUs the lines are delivered to

    def on(self, ev, st, ctx):
        if ev["ev"] != "lock.acquire":
            if ev["ev"] == "intr.enter" and ev.get("line") is not None:
                self.line_cpus.add(ev["cpu"])
            return None
        cpu = ev["cpu"]
        lock = ev.get("lock")
        who = st.actor(ev)
        frames = st.frames_of(cpu)
        out = []
        if frames:
            line = next((f.line for f in reversed(frames) if f.line is not None), None)
            if line is None:
                return None
            uses = self.hard.setdefault(lock, {})
            if line not in uses:
                uses[line] = (ev["t"], who, _bt(ctx, cpu))
                other = self.enabled.get(lock, {}).get(line)
                if other is not None:
                    out.append(self._violation(lock, line, uses[line], other))
            return self._clean(out)
        # "enabled" is the line unmasked at the PIC, which is where the
        # kernel's IPL lives; IF is not consulted, since the mutex code
        # itself runs its few instructions with interrupts off
        if cpu not in self.line_cpus:
            return None
        uses = self.enabled.setdefault(lock, {})
        lines = [n for n in range(16) if n not in st.masked and n not in uses]
        if not lines:
            return None
        bt = _bt(ctx, cpu)
        for n in lines:
            uses[n] = (ev["t"], who, bt)
            hard = self.hard.get(lock, {}).get(n)
            if hard is not None:
                out.append(self._violation(lock, n, hard, uses[n]))
        return self._clean(out)

    def _violation(self, lock, line, hard, thread):
        if (lock, line) in self.reported:
            return None
        self.reported.add((lock, line))
        ht, hw, hbt = hard
        tt, tw, tbt = thread
        return Violation(self.name,
                         f"{lock} is taken by the irq {line} handler in hard interrupt context "
                         f"and by {tw} with irq {line} enabled",
                         fields={"lock": lock, "line": line, "lwp": tw},
                         paths=[(f"{hw} in the irq {line} handler took {lock} at t={ht}", hbt),
                                (f"{tw} took {lock} with irq {line} enabled at t={tt}", tbt)])

    def _clean(self, out):
        return [v for v in out if v is not None] or None


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
        "same channel and getting the CPU back only by its timeout. All are reported with the LWP and "
        "how long it waited; the machine's own deadlock report (all CPUs halted with "
        "interrupts off) ends the run separately. With several CPUs a CPU is idle "
        "when it runs its idle LWP, or when it said so (`cpu.idle`: an AP waiting "
        "for a cross-call) and has done no thread work since, or when its bound "
        "LWP (`ap cpuN`, which cannot switch away) blocked on a mutex by halting.")

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


RULE_CLASSES = (NoBlockInHardInterrupt, NoSleepWithSpinOrIpl, BigLockAcrossSleep,
                MutexOwnership, LockOrder, IrqSafety, PinnedNotRun,
                MaskedWhileHandlerBlocked, StackBounds, IthreadUnpinOnce, Liveness,
                OneHandlerPerLevel)


def all_rules(**limits) -> list:
    """Fresh instances of the twelve rules (``liveness=N``, ``masked=N`` limits)."""
    rules = []
    for cls in RULE_CLASSES:
        if cls is Liveness and "liveness" in limits:
            rules.append(cls(limit=limits["liveness"]))
        elif cls is MaskedWhileHandlerBlocked and "masked" in limits:
            rules.append(cls(limit=limits["masked"]))
        else:
            rules.append(cls())
    return rules
