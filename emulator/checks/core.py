"""The checker framework: rules over the event stream and the machine state.

Contract
--------
``Checker(rules, ctx)`` is an event consumer (``checker(ev)``).  For each
event it hands every enabled rule the event and the ``State`` *as it was
just before the event* (``rule.on(ev, state, ctx)``), then updates the state.
A rule that declares ``kinds`` is handed only those; the table of which
rules see a kind (and the state's step for it) is built once per kind.
Rules skip work that cannot change a verdict -- an idle rule returns at
once, lock-order and irq-safety look only at pairs and lines they have not
recorded -- and tests/emulator/checks/test_novelty.py compares that with
the full evaluation.
A rule returns ``None`` or a list of ``Violation``; the checker stamps each
with the last events (``Recent``), emits a ``check.violation`` event through
``emit`` (so it lands in the trace) and keeps it.  ``finish()`` gives every
rule a last look (``rule.finish``: liveness, lines left masked) and returns
the violations.  A rule that must notice what does *not* happen (a spin that
never ends) puts times in ``rule.alarms``; the checker has ``rule.due(state,
ctx, t)`` called at each (``ctx.call_at``) and records what it returns.

``ctx`` is the window on the live machine (``MachineContext`` in
emulator/observe, or a fake in tests): ``backtrace(cpu)`` (symbolised frames,
innermost first, across interrupt frames), ``thread_backtrace(name)``,
``thread_line(name)`` (the line an interrupt thread serves),
``interrupts_enabled(cpu)``, ``esp(cpu)``, ``stack_region(owner)`` -> (lo,
hi) or None, ``call_at(t, fn)``.  Every method may answer None (False)
when it does not know; rules then stay silent rather than guess.

What a rule needs is its ``needs`` (guest_kernel/OBSERVE.md says what a
kernel provides for each): "kernel" -- the kernel's ``obs_`` labels and
exported structures; "stacks" -- named stacks (the kernel's, or objects
and label pairs any kernel can provide); "machine" -- nothing but the
machine's own events (interrupt entry and exit, the PIC's lines).  A rule
whose needs the image does not meet is switched off, once and with a note,
so a plain multiboot program or a foreign kernel runs unchanged and nothing
fires on it falsely; each is also a ``check.off`` event (``rule``,
``reason``) at t=0 through ``emit``, so the trace says which rules did not
watch it, and the summary line says how many ran: ``checks: 13 rules, N
violations`` when all did, ``checks: 2 of 13 rules on, N violations``
otherwise.

Threads are named as the trace names owners: ``lwp 3``, ``ithread 1``,
``ap cpu1``.  The thread doing an operation is the event's ``by`` field, or
else the thread current on the event's CPU (from ``lwp.switch``,
``cpu.up``, or a switch to a thread's stack).  Everything per CPU is kept
per CPU (current thread, stack owner, IPL); interrupt frames are kept per
thread, so they follow an interrupted thread and never mix CPUs.
"""

from __future__ import annotations

import collections
from dataclasses import dataclass, field
from typing import Callable, Iterable, Optional

from emulator.trace import Recent, format_event


# ------------------------------------------------------------------- results
@dataclass
class Violation:
    rule: str
    message: str                      # one line: what broke, naming lock/LWP
    t: int = 0
    cpu: int = 0
    fields: dict = field(default_factory=dict)     # lock=, lwp=, line= ...
    paths: list = field(default_factory=list)      # [(title, [frame lines])]
    events: list = field(default_factory=list)     # events leading up to it

    def report(self) -> str:
        """The multi-line report printed on stderr."""
        out = [f"checks: {self.rule} violated at t={self.t} cpu{self.cpu}: {self.message}"]
        for title, frames in self.paths:
            out.append(f"  {title}:")
            if not frames:
                out.append("    (no backtrace)")
            for i, fr in enumerate(frames):
                out.append(f"    #{i} {fr}")
        if self.events:
            out.append(f"  the {len(self.events)} events before it:")
            for ev in self.events:
                out.append("    " + format_event(ev))
        return "\n".join(out)


class Rule:
    """One rule.  Subclasses set name/title/explanation and override ``on``."""

    name = "rule"
    title = ""
    explanation = ""
    needs = "kernel"          # "kernel" | "stacks" | "machine" (see the module docstring)
    # the event kinds ``on`` looks at; None = every event.  The checker
    # hands a rule only these (a rule with a set must ignore all others).
    kinds: Optional[frozenset] = None
    # times at which the rule wants ``due`` called (the checker schedules
    # them through ``ctx.call_at`` and empties the list): a rule that must
    # notice what does *not* happen, such as a spin that never ends
    alarms: list = ()

    def on(self, ev: dict, st: "State", ctx) -> Optional[list]:
        return None

    def due(self, st: "State", ctx, t: int) -> Optional[list]:
        return None

    def finish(self, st: "State", ctx) -> Optional[list]:
        return None


# --------------------------------------------------------------------- state
THREAD_STACKS = ("lwp ", "ithread ", "softint ", "idle ", "ap ")


def schedulable(name) -> bool:
    """Whether an owner is a thread the scheduler owes CPU time: LWPs and
    interrupt threads, not the boot context, an idle LWP or an AP's bound
    LWP (``ap cpuN``: it never leaves its CPU)."""
    return isinstance(name, str) and name.startswith(("lwp ", "ithread ", "softint "))


@dataclass
class Frame:
    vector: Optional[int]
    line: Optional[int]
    t: int


@dataclass
class Held:
    lock: str
    kind: Optional[str]
    t: int
    bt: list
    depth: int = 0      # hard interrupt frames open on the thread when it took it


class State:
    """What the event stream says the kernel is doing, kept by the checker."""

    def __init__(self) -> None:
        self.t = 0
        self.current: dict = {}           # cpu -> thread name
        self.stack_owner: dict = {}       # cpu -> stack owner name
        self.frames: dict = collections.defaultdict(list)   # thread/('cpu',c) -> [Frame]
        self.held: dict = collections.defaultdict(list)     # thread -> [Held]
        self.owner_of: dict = {}          # lock -> thread
        self.pinned: dict = {}            # lwp -> pinner
        self.biglock: dict = collections.defaultdict(int)   # thread -> depth
        self.masked: set = set()          # PIC lines masked (IMR)
        self.held_lines: set = set()      # lines the kernel holds masked for a handler
        self.hold_seen = False            # the kernel reports holds (pic.hold)
        self.asleep: dict = {}            # thread -> (t, why) while sleeping/blocked
        self.runnable: dict = {}          # thread -> since t (runnable, not running)
        # at most min(runnable.values()): lowered by every entry made, raised
        # only to that minimum (rules/threads.py's liveness tests time against
        # it before it looks at every entry)
        self.runnable_floor = 0
        self.running: dict = {}           # thread -> cpu
        self.pooled: set = set()          # interrupt LWPs back in their pool (not runnable)

    # helpers the rules use --------------------------------------------
    def actor(self, ev: dict) -> Optional[str]:
        return ev.get("by") or self.current.get(ev["cpu"])

    def frames_of(self, cpu: int) -> list:
        cur = self.current.get(cpu)
        return self.frames[cur if cur is not None else ("cpu", cpu)]

    def borrowing(self, who) -> bool:
        """Whether ``who`` is an interrupt LWP running on a pinned LWP."""
        return who in self.pinned.values()

    def in_hard_interrupt(self, cpu: int) -> bool:
        """True when the CPU runs an interrupt frame of its current thread,
        i.e. a handler in interrupt context rather than as a thread."""
        return bool(self.frames_of(cpu))

    # update after the rules looked -------------------------------------
    def update(self, ev: dict, bt: Optional[list] = None) -> None:
        self.t = ev["t"]
        step = _UPDATES.get(ev["ev"])       # one look-up, not a chain of compares
        if step is not None:
            step(self, ev, ev["cpu"], ev["t"], bt)

    def _switch(self, ev, cpu, t, bt) -> None:
        old, new = ev.get("from"), ev.get("to")
        if old is not None:
            self.running.pop(old, None)
            if old not in self.asleep and old not in self.pooled and schedulable(old):
                self.runnable[old] = t
                if t < self.runnable_floor:
                    self.runnable_floor = t
        if new is not None:
            self.pooled.discard(new)
            self.running[new] = cpu
            self.runnable.pop(new, None)
            self.asleep.pop(new, None)
        # frames the CPU ran with no thread known move to the new one
        anon = self.frames.pop(("cpu", cpu), None)
        if anon and new is not None:
            self.frames[new][:0] = anon
        self.current[cpu] = new

    def _stack_switch(self, ev, cpu, t, bt) -> None:
        to = ev.get("to")
        self.stack_owner[cpu] = to
        # a thread's own stack means that thread runs (an interrupt thread
        # borrowing a CPU shows up here first); interrupt stacks do not
        if isinstance(to, str) and to.startswith(THREAD_STACKS):
            self.current[cpu] = to

    def _intr_enter(self, ev, cpu, t, bt) -> None:
        self.frames_of(cpu).append(Frame(ev.get("vector"), ev.get("line"), t))

    def _intr_exit(self, ev, cpu, t, bt) -> None:
        fr = self.frames_of(cpu)
        if fr:
            fr.pop()

    def _acquire(self, ev, cpu, t, bt) -> None:
        who = self.actor(ev)
        lock = ev.get("lock")
        self.owner_of[lock] = who
        self.held[who].append(Held(lock, ev.get("kind"), t, bt or [],
                                   len(self.frames_of(cpu))))

    def _release(self, ev, cpu, t, bt) -> None:
        who = self.actor(ev)
        lock = ev.get("lock")
        owner = self.owner_of.pop(lock, None)
        for name in (owner, who):
            hs = self.held.get(name)
            if hs:
                for i in range(len(hs) - 1, -1, -1):
                    if hs[i].lock == lock:
                        del hs[i]
                        break

    def _asleep(self, ev, cpu, t, bt) -> None:
        kind = ev["ev"]
        who = ev.get("ithread") if kind == "ithread.block" else None
        who = who or (ev.get("lwp") if kind == "lwp.sleep" else None) or self.actor(ev)
        if who is not None:
            self.asleep[who] = (t, kind)
            self.runnable.pop(who, None)

    def _cpu_up(self, ev, cpu, t, bt) -> None:
        # an AP runs its bound LWP from now on (it never switches)
        who = ev.get("lwp")
        if who is not None:
            self.current[cpu] = who
            self.running[who] = cpu

    def _wakeup(self, ev, cpu, t, bt) -> None:
        who = ev.get("lwp")
        # an AP's LWP blocks by halting its CPU and wakes itself (by = lwp)
        if who is not None and (who not in self.running or ev.get("by") == who):
            self.asleep.pop(who, None)
            if schedulable(who) and who not in self.runnable:
                self.runnable[who] = t
                if t < self.runnable_floor:
                    self.runnable_floor = t

    def _pool(self, ev, cpu, t, bt) -> None:
        who = ev.get("ithread")
        self.pooled.add(who)
        self.runnable.pop(who, None)

    def _pin(self, ev, cpu, t, bt) -> None:
        self.pinned[ev.get("lwp")] = self.actor(ev)

    def _unpin(self, ev, cpu, t, bt) -> None:
        self.pinned.pop(ev.get("lwp"), None)

    def _biglock(self, ev, cpu, t, bt) -> None:
        who = ev.get("lwp") or self.actor(ev)
        self.biglock[who] = ev.get("depth", 0)

    def _hold(self, ev, cpu, t, bt) -> None:
        self.hold_seen = True
        self.held_lines.add(ev.get("line"))

    def _hold_release(self, ev, cpu, t, bt) -> None:
        if not ev.get("held"):
            self.held_lines.discard(ev.get("line"))

    def _mask(self, ev, cpu, t, bt) -> None:
        self.masked.add(ev.get("line"))

    def _unmask(self, ev, cpu, t, bt) -> None:
        self.masked.discard(ev.get("line"))


# event kind -> the State method that follows it (kinds not here change only t)
_UPDATES = {
    "lwp.switch": State._switch, "stack.switch": State._stack_switch,
    "intr.enter": State._intr_enter, "intr.exit": State._intr_exit,
    "lock.acquire": State._acquire, "lock.release": State._release,
    "lock.block": State._asleep, "lwp.sleep": State._asleep, "ithread.block": State._asleep,
    "cpu.up": State._cpu_up, "lwp.wakeup": State._wakeup, "lock.wakeup": State._wakeup,
    "ithread.pool": State._pool, "lwp.pin": State._pin, "lwp.unpin": State._unpin,
    "biglock.acquire": State._biglock, "biglock.release": State._biglock,
    "pic.hold": State._hold, "pic.release": State._hold_release,
    "pic.mask": State._mask, "pic.unmask": State._unmask,
}


# ------------------------------------------------------------------- checker
class NullContext:
    """A machine window that knows nothing (synthetic streams, tests)."""

    def backtrace(self, cpu):
        return None

    def interrupts_enabled(self, cpu):
        return None

    def esp(self, cpu):
        return None

    def stack_region(self, owner):
        return None

    def guard_dirty(self, owner):
        return None

    def thread_backtrace(self, name):
        return None

    def thread_line(self, name):
        return None

    def call_at(self, t, fn):
        return False


class Checker:
    """Runs the rules over a stream of events (a consumer: ``checker(ev)``)."""

    OFF_REASON = {
        "kernel": "the image carries no kernel symbols (obs_ labels, guest_kernel/OBSERVE.md)",
        "stacks": "the image names no stacks (guest_kernel/OBSERVE.md, 'Any kernel')",
    }

    def __init__(self, rules: Iterable[Rule], ctx=None, kernel: bool = True,
                 emit: Optional[Callable[..., None]] = None, context: int = 12,
                 report: Optional[Callable[[str], None]] = None,
                 stacks: Optional[bool] = None) -> None:
        self.rules = list(rules)
        self.ctx = ctx if ctx is not None else NullContext()
        self.state = State()
        self.recent = Recent(context)
        self.emit = emit
        self.report = report
        self.violations: list = []
        self.notes: list = []
        have = {"machine": True, "kernel": kernel, "stacks": kernel if stacks is None else stacks}
        self.enabled = [r for r in self.rules if have.get(r.needs, False)]
        off = [r for r in self.rules if r not in self.enabled]
        why = []
        for need in ("kernel", "stacks"):
            names = [r.name for r in off if r.needs == need]
            if names:
                why.append(f"{self.OFF_REASON[need]}: {', '.join(names)}")
        if why:
            self.notes.append(f"checks: {len(off)} of {len(self.rules)} rules off, "
                              + "; ".join(why))
        # and in the trace, one check.off per rule, before any event
        for r in off if self.emit is not None else ():
            self.emit("check.off", 0, t=0, rule=r.name, reason=self.OFF_REASON[r.needs])
        self.finished = False
        # the debugger's replay (emulator/debugger/rewind.py): a callable that
        # is true while the events are ones the furthest run already saw
        self.replaying: Optional[Callable[[], bool]] = None
        self._dispatch: dict = {}      # event kind -> ``_entry(kind)``
        # the backtrace kept with every lock held: worked out only if a report
        # shows it, where the context can defer it (emulator/observe/context.py)
        self._backtrace_later = getattr(self.ctx, "backtrace_later", self.ctx.backtrace)

    def __call__(self, ev: dict) -> None:
        kind = ev["ev"]
        if kind == "check.violation":
            self.recent(ev)
            return
        entry = self._dispatch.get(kind)
        if entry is None:
            entry = self._dispatch[kind] = self._entry(kind)
        rules, step, alarming = entry
        found = None
        st, ctx = self.state, self.ctx
        for on in rules:
            got = on(ev, st, ctx)
            if got:
                if found is None:
                    found = list(got)
                else:
                    found.extend(got)
        for rule in alarming:
            if rule.alarms:
                self._schedule(rule)
        # State.update, its look-up done once per kind
        st.t = ev["t"]
        if step is not None:
            step(st, ev, ev["cpu"], ev["t"],
                 self._backtrace_later(ev["cpu"]) if kind == "lock.acquire" else None)
        self.recent.events.append(ev)       # Recent.__call__, one call layer less
        if found:
            again = self.replaying is not None and self.replaying()
            for v in found:
                self._record(v, ev["t"], ev["cpu"], again)

    def _entry(self, kind: str) -> tuple:
        """(rules, step, alarming) for ``kind``: the ``on`` of each enabled
        rule that looks at it, in the rules' order; the ``State`` method that
        follows it (None: only ``t`` changes); those rules that may ask for
        alarms, whose requests are scheduled after every rule looked (a
        request changes nothing until its time comes).  Built once per kind;
        bound methods stay valid across ``restore_state``, which refills each
        rule's ``__dict__`` in place, and ``step`` is a plain function,
        handed whatever state is current."""
        looking = [r for r in self.enabled if r.kinds is None or kind in r.kinds]
        return (tuple(r.on for r in looking), _UPDATES.get(kind),
                tuple(r for r in looking if self._alarming(r)))

    @staticmethod
    def _alarming(rule: Rule) -> bool:
        """Whether ``rule`` may put times in ``alarms``: it answers ``due``
        or keeps its own list."""
        return type(rule).due is not Rule.due or "alarms" in vars(rule)

    def _schedule(self, rule: Rule) -> None:
        """Have ``rule.due`` called at each time it asked for."""
        call_at = getattr(self.ctx, "call_at", None)      # a fake context may have none
        for t in rule.alarms if call_at is not None else ():
            call_at(t, lambda rule=rule, t=t: self._due(rule, t))
        rule.alarms.clear()

    def _due(self, rule: Rule, t: int) -> None:
        if self.finished:
            return
        again = self.replaying is not None and self.replaying()
        for v in rule.due(self.state, self.ctx, t) or ():
            self._record(v, t, v.cpu, again)

    def _record(self, v: Violation, t: int, cpu: int, again: bool = False) -> None:
        """Keep, emit and report ``v``; ``again`` (a replay of events already
        checked) only emits it, so the event stream is the first run's."""
        if not v.t:
            v.t, v.cpu = t, cpu
        v.events = self.recent.tail()
        if not again:
            self.violations.append(v)
        if self.emit is not None:
            self.emit("check.violation", v.cpu, t=v.t, rule=v.rule, message=v.message,
                      **{k: val for k, val in v.fields.items() if k not in ("rule", "message")})
        if self.report is not None and not again:
            self.report(v.report())

    def finish(self) -> list:
        if not self.finished:
            self.finished = True
            for rule in self.enabled:
                for v in rule.finish(self.state, self.ctx) or ():
                    self._record(v, self.state.t, v.cpu)
        return self.violations

    # going back in time (the debugger restores a machine snapshot) ----------
    def save_state(self) -> bytes:
        """The state, the last events and every rule's own state, as bytes
        (not ``violations``: what was reported stays reported)."""
        import pickle   # noqa: PLC0415 (the debugger's going back only: 4 ms of a run's imports)
        return pickle.dumps((self.state, self.recent.events,
                             [r.__dict__ for r in self.rules]), pickle.HIGHEST_PROTOCOL)

    def restore_state(self, saved: bytes) -> None:
        """Back to what ``save_state`` saw (each call gets fresh objects)."""
        import pickle   # noqa: PLC0415 (see save_state)
        self.state, self.recent.events, rules = pickle.loads(saved)
        for r, d in zip(self.rules, rules):
            r.__dict__.clear()
            r.__dict__.update(d)

    def summary_line(self) -> str:
        n = len(self.violations)
        # always "violations": scripts read this line; never all the rules
        # when some did not run
        if len(self.enabled) == len(self.rules):
            return f"checks: {len(self.rules)} rules, {n} violations"
        return f"checks: {len(self.enabled)} of {len(self.rules)} rules on, {n} violations"
