"""The numbers of one run, computed from its trace events (issue 14).

Contract
--------
``Metrics()``; ``add(ev)`` for every event of one trace, in trace order;
``result()`` returns a dict whose keys are a contract (README "The
comparison"): what ``python -m guest_kernel compare`` writes to
metrics.json and what ``python -m emulator trace summary`` prints.  Times
are instructions (= virtual ns).  A distribution is ``dist(values)``:
``{"n", "median", "p90", "p99", "max"}`` by nearest rank on integers (no
floats, so the same trace gives the same bytes), plus ``"total"`` where
the sum means something.  Per-line and per-lock maps are keyed by strings
(``"5"``, ``"td_lock"``) so they are JSON objects as they stand.
``from_events(events)`` is ``add`` over an iterable, then ``result()``.
Memory: per line, LWP and lock, plus one integer per latency sample and
one small object per interrupt delivery (the overhead's distribution).

Definitions
-----------
*Delivery*: an ``intr.enter`` with a ``line`` (a device line's vector,
whatever raised it).  ``irqs[L]`` counts them.

*Episode* of line L: opens at an ``irq.raise`` of L unless an episode of L
raised earlier has not started yet (that raise is the same request).
- *handler start*: the first instruction of the driver's handler in
  whatever context runs it, as the trace shows it: ``handler.enter`` with
  path ``intr`` (interrupt context); the ``lwp.pin`` by the line's
  interrupt LWP after a ``handler.enter`` with path ``ithread`` (the
  borrow); the switch to the line's handler thread after a
  ``handler.enter`` with path ``threaded`` woke it (``lwp.wakeup``), or
  the stub's ``handler.exit`` when the thread was already awake.
- *handler end*: ``handler.exit`` (path ``intr``) or ``ithread.done``.
- *work done*: the first ``work.done`` of L after the start, when the
  trace has ``work.done`` events for L (the kernel's own statement that
  the driver's work for the event is finished, after any bottom half);
  otherwise a proxy: the handler end, unless the handler scheduled a soft
  interrupt (``softint.schedule`` inside it), then the end of the first
  run of that soft interrupt that began after it (the ``softint.run``'s
  LWP reaches its next ``softint.run``, ``lwp.sleep`` or ``lwp.unpin``).
  ``work_done_source`` says which, per line.
- Lines whose kernel reports no ``handler.*`` events (any other image)
  use ``intr.enter`` / ``intr.exit`` as start and end.
``latency_start[L]``, ``latency_end[L]``, ``latency_done[L]``: raise ->
start, end, done, per episode.

``masked[L]``: intervals during which L was raised (``irq.raise`` ..
``irq.lower``) and masked (``pic.mask`` .. ``pic.unmask``: the IMR, a line
held for its handler thread, or — when the line has any ``via=ioapic``
event — its IO APIC entry instead of the IMR); a dist with ``total``.

``overhead``: per delivery, the instructions its CPU spent because of it
that are not the handler's own work.  Each CPU's time between consecutive
events goes to what runs at the first of them: the *handler's own work*
(``handler.enter``..``handler.exit`` path ``intr``; an interrupt LWP from
its borrow or switch-in to its ``ithread.done``; a soft interrupt's run as
defined above) counts for nobody; time inside an open device frame of the
running LWP (or of the LWP it borrows) counts for the innermost such
delivery (stub, EOI, hold, borrow, unpin, return path, preemption on the
way out); an interrupt LWP's time after its ``ithread.done`` until it
leaves the CPU counts for the delivery whose work it did; a soft-interrupt
LWP's time outside its runs counts for the last delivery that scheduled
it.  Everything else (threads' own time, exceptions) counts for none.
``overhead`` is the dist over all deliveries with ``total``;
``overhead_by_line[L]`` the same per line.

``switches_per_irq``, ``stack_switches_per_irq``: ``lwp.switch`` and
``stack.switch`` events per delivery (3 decimals).  ``ithread_blocks``:
``ithread.block`` events; ``pins``: ``lwp.pin`` events.
``biglock_hold``: per CPU (``per_cpu``) and ``total``, instructions from an
LWP's big-lock depth leaving 0 to its return to 0; ``biglock_wait`` the
same from a ``biglock.contend`` to that LWP's next ``biglock.acquire``
(0 when the trace has none).  ``mutex_wait[lock]``: dist with total from a
``lock.contend`` (or ``lock.block``) by an LWP to its ``lock.acquire`` of
that lock.  ``stack_depth[kind]``: the deepest ``used`` of any
``stack.usage`` event of that kind (bytes; empty when the trace has none).
``packets_in``: ``inject`` events carrying a packet (``packet`` >= 0; the
trace writes -1 for an injection that only raises a line); ``packets_lost``:
``testdev.overflow`` events; ``packets_done``: in - lost (packets the
device accepted; the scenario checks that its driver received them all).
``violations``: ``check.violation`` events.  ``instructions``: the last
event's time (a runner that knows the run's own count replaces it), and
``virtual_ms`` = instructions / 10**6, 3 decimals.
"""

from __future__ import annotations

import collections
from typing import Iterable, Optional

from emulator.episodes import Latency, dist  # noqa: F401  (dist: part of this API)

# context entries on an LWP's stack of what it is doing (see overhead)
# an entry is (kind, delivery, label, seq): what, for whom, its name on a
# timeline (emulator/perfetto.py draws them), a number unique in the trace
FRAME, STUB, HANDLER, WORK, TAIL, SOFT = "frame", "stub", "handler", "work", "tail", "soft"
AWAIT_CAP = 4096        # started episodes kept per line waiting for work.done
CTX_CAP = 64            # entries kept per LWP (a trace whose frames never close)


def _ratio(a: int, b: int) -> Optional[float]:
    return round(a / b, 3) if b else None


class _Delivery:
    __slots__ = ("line", "overhead")

    def __init__(self, line: int) -> None:
        self.line = line
        self.overhead = 0


class Metrics:
    """Every number of issue 14 over one pass of a trace."""

    def __init__(self) -> None:
        self.first_t: Optional[int] = None
        self.last_t = 0
        self.kinds: collections.Counter = collections.Counter()
        self.irqs: collections.Counter = collections.Counter()
        self.handler_lines: set = set()
        self.by_handler = Latency()
        self.by_intr = Latency()
        # work.done: started episodes (raise times) of each line not yet done
        self.awaiting: dict = collections.defaultdict(collections.deque)
        self.work_done: dict = collections.defaultdict(list)
        # who runs where, and what each LWP is doing (overhead, starts)
        self.cur: dict = {}                 # cpu -> owner running
        self.switched: set = set()          # cpus that had an lwp.switch
        self.last: dict = {}                # cpu -> time of its previous event
        self.ctx: dict = collections.defaultdict(list)   # owner -> [(kind, delivery)]
        self.borrowed: dict = {}            # borrowing LWP -> LWP it borrows
        self.deliveries: list = []
        self.pending_pin: dict = {}         # cpu -> line whose ithread borrows next
        self.pending_wake: dict = {}        # cpu -> (line, woken?) in a threaded stub
        self.thread_line: dict = {}         # interrupt LWP -> its line
        self.thread_pending: dict = {}      # handler thread -> delivery it will serve
        self.handlers: dict = collections.defaultdict(list)  # cpu -> lines in path intr
        self.softint_of: dict = {}          # soft-interrupt LWP -> softint it runs
        self.soft_delivery: dict = {}       # softint -> last delivery that scheduled it
        self.soft_run: dict = {}            # LWP -> episodes its current run finishes
        # masking while raised
        self.raised: dict = {}              # line -> bool
        self.masked: dict = {}              # (line, via) -> bool
        self.ioapic_lines: set = set()
        self.masked_since: dict = {}        # (line, via) -> start of masked-and-raised
        self.masked_iv: dict = collections.defaultdict(list)   # (line, via) -> lengths
        # locks
        self.big_depth: dict = {}           # lwp -> depth
        self.big_since: dict = {}           # lwp -> (t, cpu) depth left 0
        self.big_hold: collections.Counter = collections.Counter()
        self.big_contend: dict = {}         # lwp -> (t, cpu)
        self.big_wait: collections.Counter = collections.Counter()
        self.lock_waiting: dict = {}        # (lock, lwp) -> t
        self.mutex_wait: dict = collections.defaultdict(list)
        self.stack_depth: dict = {}
        self.packets = 0
        self.seq = 0
        self.work_listener = None       # as Latency.listener, for work.done

    # ------------------------------------------------------------ one event
    def add(self, ev: dict) -> None:
        t, cpu, kind = ev["t"], ev["cpu"], ev["ev"]
        if self.first_t is None:
            self.first_t = t
        if t > self.last_t:
            self.last_t = t
        self.kinds[kind] += 1
        self._account(cpu, t)
        handler = self._HANDLERS.get(kind)
        if handler is not None:
            handler(self, ev, t, cpu)

    def _account(self, cpu: int, t: int) -> None:
        """Give the CPU's time since its previous event to whoever it was for."""
        prev = self.last.get(cpu)
        self.last[cpu] = t
        if prev is None or t <= prev:
            return
        d = self._charged(cpu)
        if d is not None:
            d.overhead += t - prev

    def _charged(self, cpu: int) -> Optional[_Delivery]:
        owner = self.cur.get(cpu)
        seen = 0
        while owner is not None and seen < 8:
            seen += 1
            stack = self.ctx.get(owner)
            if stack:
                what, d = stack[-1][0], stack[-1][1]
                return None if what in (HANDLER, WORK, SOFT) else d
            s = self.softint_of.get(owner)
            if s is not None:
                return self.soft_delivery.get(s)
            owner = self.borrowed.get(owner)
        return None

    def _innermost(self, owner) -> Optional[_Delivery]:
        """The innermost delivery ``owner`` is serving (down its borrows)."""
        seen = 0
        while owner is not None and seen < 8:
            seen += 1
            for entry in reversed(self.ctx.get(owner, ())):
                if entry[1] is not None:
                    return entry[1]
            owner = self.borrowed.get(owner)
        return None

    def _push(self, owner, kind: str, d, label: str) -> None:
        stack = self.ctx[owner]
        if len(stack) >= CTX_CAP:
            del stack[0]
        self.seq += 1
        stack.append((kind, d, label, self.seq))

    @staticmethod
    def _pop_through(stack: list, what: str) -> Optional[tuple]:
        """Remove the topmost ``what`` entry and everything above it."""
        for i in range(len(stack) - 1, -1, -1):
            if stack[i][0] == what:
                entry = stack[i]
                del stack[i:]
                return entry
        return None

    # ------------------------------------------------------- the handlers
    def _on_raise(self, ev, t, cpu):
        line = ev.get("line")
        if not isinstance(line, int):
            return
        self.by_handler.raised(line, t)
        self.by_intr.raised(line, t)
        self._set_raised(line, True, t)

    def _on_lower(self, ev, t, cpu):
        line = ev.get("line")
        if isinstance(line, int):
            self._set_raised(line, False, t)

    def _on_mask(self, ev, t, cpu):
        line = ev.get("line")
        if not isinstance(line, int):
            return
        via = ev.get("via") or "pic"
        if via == "ioapic":
            self.ioapic_lines.add(line)
        self._set_masked(line, via, ev["ev"] == "pic.mask", t)

    def _on_intr_enter(self, ev, t, cpu):
        line = ev.get("line")
        owner = ev.get("owner", self.cur.get(cpu))
        d = None
        if isinstance(line, int):
            self.irqs[line] += 1
            d = _Delivery(line)
            self.deliveries.append(d)
            self.by_intr.start(line, t)
        label = f"irq {line}" if d is not None else f"{ev.get('kind') or 'intr'} {ev.get('vector')}"
        self._push(owner, FRAME, d, label)

    def _on_intr_exit(self, ev, t, cpu):
        line = ev.get("line")
        owner = ev.get("owner", self.cur.get(cpu))
        self._pop_through(self.ctx.get(owner, []), FRAME)
        if isinstance(line, int):
            self.by_intr.end(line, t)

    def _on_handler_enter(self, ev, t, cpu):
        line = ev.get("line")
        if not isinstance(line, int):
            return
        self.handler_lines.add(line)
        path = ev.get("path", "intr")
        owner = self.cur.get(cpu)
        if path in ("ithread", "threaded"):
            if path == "ithread":
                self.pending_pin[cpu] = line
            else:
                self.pending_wake[cpu] = [line, False]
            self._push(owner, STUB, self._innermost(owner), f"handler {line} ({path} stub)")
        else:
            self._start(line, t)
            self.handlers[cpu].append(line)
            self._push(owner, HANDLER, self._innermost(owner), f"handler {line}")

    def _on_handler_exit(self, ev, t, cpu):
        line = ev.get("line")
        path = ev.get("path", "intr")
        if path in ("ithread", "threaded"):
            self._pop_through(self.ctx.get(self.cur.get(cpu), []), STUB)
        if path == "ithread":
            self.pending_pin.pop(cpu, None)
        elif path == "threaded":
            wake = self.pending_wake.pop(cpu, None)
            if wake is not None and not wake[1] and isinstance(line, int):
                self._start(line, t)        # its thread was awake already
        else:
            stack = self.handlers.get(cpu)
            if stack and line in stack:
                del stack[len(stack) - 1 - stack[::-1].index(line)]
            self._pop_through(self.ctx.get(self.cur.get(cpu), []), HANDLER)
            if isinstance(line, int):
                self.by_handler.end(line, t)

    def _start(self, line: int, t: int) -> None:
        self.by_handler.start(line, t)
        for ep in self.by_handler.open.get(line, ()):
            if ep.start_t == t:
                q = self.awaiting[line]
                q.append(ep.raise_t)
                if len(q) > AWAIT_CAP:
                    q.popleft()
                break

    def _on_pin(self, ev, t, cpu):
        lwp, by = ev.get("lwp"), ev.get("by")
        self.borrowed[by] = lwp
        self.cur[cpu] = by
        line = self.pending_pin.pop(cpu, None)
        if line is not None:
            self.thread_line[by] = line
            self._start(line, t)
            self._push(by, WORK, self._innermost(lwp), f"ithread work, line {line}")

    def _on_unpin(self, ev, t, cpu):
        lwp, by = ev.get("lwp"), ev.get("by")
        self.borrowed.pop(by, None)
        self._finish_soft_run(by, t)
        if ev.get("how") != "block":
            self.ctx.pop(by, None)
            self.cur[cpu] = lwp

    def _on_switch(self, ev, t, cpu):
        old, new = ev.get("from"), ev.get("to")
        self.switched.add(cpu)
        stack = self.ctx.get(old)
        while stack and stack[-1][0] == TAIL:
            stack.pop()
        self.cur[cpu] = new
        if new in self.thread_pending:
            d = self.thread_pending.pop(new)
            line = self.thread_line.get(new)
            if line is not None:
                self._start(line, t)
            self._push(new, WORK, d, f"thread work, line {line}")

    def _on_stack_switch(self, ev, t, cpu):
        if cpu not in self.switched:        # before the scheduler: the stack's owner
            self.cur[cpu] = ev.get("to")

    def _on_wakeup(self, ev, t, cpu):
        wake = self.pending_wake.get(cpu)
        if wake is not None and not wake[1]:
            wake[1] = True
            lwp = ev.get("lwp")
            self.thread_line[lwp] = wake[0]
            self.thread_pending[lwp] = self._innermost(self.cur.get(cpu))

    def _on_ithread_done(self, ev, t, cpu):
        who, line = ev.get("ithread"), ev.get("line")
        stack = self.ctx[who]
        entry = self._pop_through(stack, WORK)
        self._push(who, TAIL, entry[1] if entry else self._innermost(who), "after done")
        if isinstance(line, int):
            self.thread_line.setdefault(who, line)
            self.by_handler.end(line, t)

    def _on_ithread_block(self, ev, t, cpu):
        line = ev.get("line")
        if isinstance(line, int):
            self.thread_line.setdefault(ev.get("ithread"), line)

    def _on_pool(self, ev, t, cpu):
        self.ctx.pop(ev.get("ithread"), None)

    def _on_softint_schedule(self, ev, t, cpu):
        s, by = ev.get("softint"), ev.get("by")
        line = self.thread_line.get(by)
        if line is None and self.handlers.get(cpu):
            line = self.handlers[cpu][-1]
        if line is not None:
            ep = self.by_handler.current(line)
            if ep is not None and ep.softint is None:
                ep.softint = s
        d = self._innermost(self.cur.get(cpu))
        if d is not None:
            self.soft_delivery[s] = d

    def _on_softint_run(self, ev, t, cpu):
        s, by = ev.get("softint"), ev.get("by")
        self._finish_soft_run(by, t)
        self.softint_of[by] = s
        self.soft_run[by] = self.by_handler.waiting.pop(s, [])
        self._push(by, SOFT, None, f"softint {s}")

    def _on_sleep(self, ev, t, cpu):
        self._finish_soft_run(ev.get("lwp"), t)

    def _finish_soft_run(self, lwp, t: int) -> None:
        batch = self.soft_run.pop(lwp, None)
        if batch is None:
            return
        self.by_handler.done_by_softint(batch, t)
        stack = self.ctx.get(lwp)
        if stack is not None:
            self._pop_through(stack, SOFT)

    def _on_work_done(self, ev, t, cpu):
        line = ev.get("line")
        if not isinstance(line, int):
            return
        q = self.awaiting.get(line)
        out = self.work_done[line]
        while q:
            raise_t = q.popleft()
            out.append(t - raise_t)
            if self.work_listener:
                self.work_listener("done", line, raise_t, t)

    def _on_biglock(self, ev, t, cpu):
        lwp, depth = ev.get("lwp"), ev.get("depth")
        if not isinstance(depth, int):
            return
        before = self.big_depth.get(lwp, 0)
        self.big_depth[lwp] = depth
        if ev["ev"] == "biglock.acquire":
            c = self.big_contend.pop(lwp, None)
            if c is not None:
                self.big_wait[c[1]] += t - c[0]
            if before == 0 and depth > 0:
                self.big_since[lwp] = (t, cpu)
        elif depth == 0 and lwp in self.big_since:
            t0, c0 = self.big_since.pop(lwp)
            self.big_hold[c0] += t - t0

    def _on_biglock_contend(self, ev, t, cpu):
        self.big_contend.setdefault(ev.get("lwp"), (t, cpu))

    def _on_lock_wait(self, ev, t, cpu):
        self.lock_waiting.setdefault((ev.get("lock"), ev.get("by")), t)

    def _on_lock_acquire(self, ev, t, cpu):
        since = self.lock_waiting.pop((ev.get("lock"), ev.get("by")), None)
        if since is not None:
            self.mutex_wait[str(ev.get("lock"))].append(t - since)

    def _on_inject(self, ev, t, cpu):
        packet = ev.get("packet")
        if isinstance(packet, int) and packet >= 0:    # -1: an IRQ-only injection
            self.packets += 1

    def _on_stack_usage(self, ev, t, cpu):
        kind, used = ev.get("kind"), ev.get("used")
        if isinstance(kind, str) and isinstance(used, int):
            self.stack_depth[kind] = max(used, self.stack_depth.get(kind, 0))

    _HANDLERS = {
        "irq.raise": _on_raise, "irq.lower": _on_lower,
        "pic.mask": _on_mask, "pic.unmask": _on_mask,
        "intr.enter": _on_intr_enter, "intr.exit": _on_intr_exit,
        "handler.enter": _on_handler_enter, "handler.exit": _on_handler_exit,
        "lwp.pin": _on_pin, "lwp.unpin": _on_unpin, "lwp.switch": _on_switch,
        "stack.switch": _on_stack_switch, "lwp.wakeup": _on_wakeup,
        "ithread.done": _on_ithread_done, "ithread.block": _on_ithread_block,
        "ithread.pool": _on_pool,
        "softint.schedule": _on_softint_schedule, "softint.run": _on_softint_run,
        "lwp.sleep": _on_sleep, "work.done": _on_work_done,
        "biglock.acquire": _on_biglock, "biglock.release": _on_biglock,
        "biglock.contend": _on_biglock_contend,
        "lock.contend": _on_lock_wait, "lock.block": _on_lock_wait,
        "lock.acquire": _on_lock_acquire, "stack.usage": _on_stack_usage,
        "inject": _on_inject,
    }

    # ------------------------------------------------------------- masking
    def _set_raised(self, line: int, on: bool, t: int) -> None:
        self.raised[line] = on
        for via in ("pic", "ioapic"):
            self._masked_edge(line, via, t)

    def _set_masked(self, line: int, via: str, on: bool, t: int) -> None:
        self.masked[(line, via)] = on
        self._masked_edge(line, via, t)

    def _masked_edge(self, line: int, via: str, t: int) -> None:
        key = (line, via)
        now = self.raised.get(line, False) and self.masked.get(key, False)
        since = self.masked_since.get(key)
        if now and since is None:
            self.masked_since[key] = t
        elif not now and since is not None:
            del self.masked_since[key]
            self.masked_iv[key].append(t - since)

    # -------------------------------------------------------------- result
    def latency(self) -> Latency:
        """Not a copy: per line, the handler-event tracker where the kernel
        reported handlers, else the interrupt-frame one (see ``lines``)."""
        return self.by_handler

    def _lat(self, line: int) -> Latency:
        return self.by_handler if line in self.handler_lines else self.by_intr

    def lines(self) -> list:
        """Lines with a delivery or an episode that started."""
        return sorted(set(self.irqs) | set(self.by_handler.to_start) | set(self.by_intr.to_start))

    def masked_intervals(self, line: int) -> list:
        """Closed masked-while-raised intervals of a line (the IO APIC's when it has any)."""
        via = "ioapic" if line in self.ioapic_lines else "pic"
        return self.masked_iv.get((line, via), [])

    def still_masked(self, line: int) -> Optional[int]:
        via = "ioapic" if line in self.ioapic_lines else "pic"
        return self.masked_since.get((line, via))

    def done_values(self, line: int) -> tuple:
        """(values, source) of raise -> work done for a line."""
        if self.work_done.get(line):
            return self.work_done[line], "work.done"
        return self._lat(line).to_done[line], "proxy"

    def result(self) -> dict:
        lines = self.lines()
        n_irq = sum(self.irqs.values())
        cpus = sorted(set(self.big_hold) | set(self.big_wait))
        out = {
            "irqs": {str(ln): self.irqs.get(ln, 0) for ln in lines},
            "packets_in": self.packets,
            "packets_done": self.packets - self.kinds.get("testdev.overflow", 0),
            "packets_lost": self.kinds.get("testdev.overflow", 0),
            "latency_start": {str(ln): dist(self._lat(ln).to_start[ln]) for ln in lines},
            "latency_end": {str(ln): dist(self._lat(ln).to_end[ln]) for ln in lines},
            "latency_done": {str(ln): dist(self.done_values(ln)[0]) for ln in lines},
            "work_done_source": {str(ln): self.done_values(ln)[1] for ln in lines},
            "masked": {str(ln): dist(self.masked_intervals(ln), total=True) for ln in lines},
            "overhead": dist([d.overhead for d in self.deliveries], total=True),
            "overhead_by_line": {str(ln): dist([d.overhead for d in self.deliveries
                                                if d.line == ln], total=True) for ln in lines},
            "switches_per_irq": _ratio(self.kinds.get("lwp.switch", 0), n_irq),
            "stack_switches_per_irq": _ratio(self.kinds.get("stack.switch", 0), n_irq),
            "ithread_blocks": self.kinds.get("ithread.block", 0),
            "pins": self.kinds.get("lwp.pin", 0),
            "biglock_wait": {"total": sum(self.big_wait.values()),
                             "per_cpu": {str(c): self.big_wait.get(c, 0) for c in cpus}},
            "biglock_hold": {"total": sum(self.big_hold.values()),
                             "per_cpu": {str(c): self.big_hold.get(c, 0) for c in cpus}},
            "mutex_wait": {k: dist(v, total=True) for k, v in sorted(self.mutex_wait.items())},
            "stack_depth": dict(sorted(self.stack_depth.items())),
            "violations": self.kinds.get("check.violation", 0),
            "instructions": self.last_t,
            "virtual_ms": round(self.last_t / 1_000_000, 3),
        }
        return out


def from_events(events: Iterable[dict]) -> dict:
    m = Metrics()
    for ev in events:
        m.add(ev)
    return m.result()
