"""``trace export --perfetto``: an irqlab trace as a Chrome trace-event timeline.

Contract
--------
``export(events, out)`` streams Chrome trace-event JSON (an object with
``traceEvents``; ui.perfetto.dev and chrome://tracing open it) to ``out``.
``export_file(src, dst)`` does it between files, refusing ``dst`` = ``src``
(before opening anything for writing) and turning write errors (a full
disk, /dev/full) into TraceError, one line.

What runs is read from emulator/metrics.py's model of the trace (the same
one the numbers come from: who is on each CPU, who borrows whom, each LWP's
stack of interrupt frames, handlers, interrupt-thread work and soft-interrupt
runs).  Tracks:

- pid 1 "CPUs", one thread per CPU: a slice per stretch an LWP runs (from
  the first event: before the first context switch the stack's owner, e.g.
  ``boot``, ``lwp 0``), nested in it that LWP's frames (``irq 5``),
  handlers (``handler 5``, ``handler 5 (ithread stub)``), soft-interrupt
  runs (``softint NAME``), and a borrowing LWP's own slice with its
  ``ithread work, line N``; instants for violations, sleeps, wakeups,
  IPIs, cross-calls, contention, overflows.  Counter ``cpuN IPL`` when the
  trace has ``cpu.ipl`` events.
- pid 2 "LWPs", one thread per LWP: its runs (``lwp 3``), or while it is
  pinned, ``borrowed by ithread 2``, each with its frames and handlers
  nested; and one ``lwp 3 locks`` thread per LWP that takes locks: ``hold
  td_lock``, ``wait td_lock``, ``hold big lock``, ``wait big lock``.
- pid 3 "IRQ lines", one thread per line: ``line 5 raised`` slices
  (``irq.raise`` .. ``irq.lower``); counters ``line N masked`` (0/1, the
  IO APIC entry for lines routed through it) and ``line N held``.
- flows (arrows) per interrupt episode: raise (line track) -> handler start
  (CPU track) -> work done (CPU track), the episode and the ends of
  emulator/metrics.py.

Every track's B/E slices are balanced and nested and its timestamps never
go back: each event recomputes the stack of slices a touched track should
show and emits only the difference.  A stack shows at most ``DEPTH``
entries, so output is linear in the input even for a trace whose frames
never close (an older exporter re-emitted every open frame at each switch).
Timestamps are microseconds (t / 1000: one instruction = 1 ns).
"""

from __future__ import annotations

import json
import os
from typing import Iterable

from emulator.metrics import TAIL, Metrics
from emulator.trace import TraceError, read_events

CPU_PID, LWP_PID, LINE_PID = 1, 2, 3
DEPTH = 8                       # slices a track shows nested at most
FLOWS_OPEN = 4096               # episodes whose arrow is still open
LOCK_TID_BASE = 10_000          # "lwp N locks" threads: LOCK_TID_BASE + the LWP's tid
INSTANTS = ("check.violation", "lwp.sleep", "lwp.wakeup", "wchan.wakeup", "ipi.send",
            "ipi.resched", "xcall.run", "wq.steal", "lock.contend", "lock.spin",
            "lock.mismatch", "ithread.block", "ithread.pool", "softint.schedule",
            "testdev.overflow", "cpu.idle", "cpu.start", "cpu.up", "check.off")
OWNER_FIELDS = ("owner", "by", "lwp", "ithread", "from", "to")


_encode = json.JSONEncoder(separators=(",", ":"), sort_keys=True).encode


def _ts(t: int):
    return t // 1000 if t % 1000 == 0 else round(t / 1000, 3)


class _Track:
    """One thread track: the slices open on it (keys, names) and its clock."""

    __slots__ = ("pid", "tid", "open", "last")

    def __init__(self, pid: int, tid: int) -> None:
        self.pid, self.tid = pid, tid
        self.open: list = []            # [(key, name)]
        self.last = 0


class Exporter:
    def __init__(self, out) -> None:
        self.out = out
        self.first = True
        self.m = Metrics()
        self.m.by_handler.listener = self._flow
        self.m.by_intr.listener = self._flow_intr
        self.m.work_listener = self._work_flow
        self.tracks: dict = {}
        self.tids: dict = {}            # owner -> tid in LWP_PID
        self.named_lines: set = set()
        self.runs: dict = {}            # owner -> (state key, name) of its base slice
        self.seq = 0
        self.locks: dict = {}           # owner -> [(key, name)] holds and waits, in order
        self.counters: dict = {}        # (pid, name) -> last value
        self.work_done_lines: set = set()
        self.flows: dict = {}           # open flow id -> line (at most FLOWS_OPEN)
        self.deferred: list = []        # flow steps to bind once the event is drawn
        self.cpu_keys: dict = {}        # cpu -> [(owner, key)] of its drawn chain
        self.t = 0
        self.cpu = 0
        self.out.write('{"displayTimeUnit":"ns","traceEvents":[\n')

    # ------------------------------------------------------------- output
    def _write(self, rec: dict) -> None:
        if not self.first:
            self.out.write(",\n")
        self.first = False
        self.out.write(_encode(rec))

    def _track(self, pid: int, tid: int, name: str) -> _Track:
        tr = self.tracks.get((pid, tid))
        if tr is None:
            tr = self.tracks[(pid, tid)] = _Track(pid, tid)
            self._write({"ph": "M", "name": "thread_name", "pid": pid, "tid": tid,
                         "args": {"name": name}})
        return tr

    def _cpu_track(self, cpu: int) -> _Track:
        return self._track(CPU_PID, cpu, f"cpu{cpu}")

    def _lwp_tid(self, owner) -> int:
        tid = self.tids.get(owner)
        if tid is None:
            tid = self.tids[owner] = len(self.tids) + 1
        return tid

    def _lwp_track(self, owner) -> _Track:
        return self._track(LWP_PID, self._lwp_tid(owner), str(owner))

    def _stamp(self, tr: _Track) -> object:
        tr.last = max(tr.last, self.t)
        return _ts(tr.last)

    def _sync(self, tr: _Track, want: list, cat: str) -> None:
        """Emit what turns the slices open on ``tr`` into ``want`` ([(key, name)])."""
        want = want[:DEPTH]
        n = 0
        while n < len(want) and n < len(tr.open) and tr.open[n][0] == want[n][0]:
            n += 1
        if n == len(want) == len(tr.open):
            return
        ts = self._stamp(tr)
        while len(tr.open) > n:
            _, name = tr.open.pop()
            self._write({"ph": "E", "name": name, "ts": ts, "pid": tr.pid, "tid": tr.tid})
        for key, name in want[n:]:
            self._write({"ph": "B", "name": name, "cat": cat, "ts": ts,
                         "pid": tr.pid, "tid": tr.tid})
            tr.open.append((key, name))

    def _instant(self, tr: _Track, name: str, cat: str, args: dict) -> None:
        self._write({"ph": "i", "s": "t", "name": name, "cat": cat, "ts": self._stamp(tr),
                     "pid": tr.pid, "tid": tr.tid, "args": args})

    def _counter(self, pid: int, name: str, value: int) -> None:
        if self.counters.get((pid, name)) == value:
            return
        self.counters[(pid, name)] = value
        self._write({"ph": "C", "name": name, "ts": _ts(self.t), "pid": pid,
                     "args": {"value": value}})

    # --------------------------------------------------------- what shows
    def _entries(self, owner) -> list:
        return [(e[3], e[2]) for e in self.m.ctx.get(owner, ()) if e[0] != TAIL]

    def _base(self, owner, state: tuple, name: str) -> tuple:
        """The owner's base slice, a new key whenever its state changes."""
        old = self.runs.get(owner)
        if old is not None and old[0] == state:
            return old[1], name
        self.seq += 1
        key = ("base", self.seq)
        self.runs[owner] = (state, key)
        return key, name

    def _where(self, owner):
        for c, o in self.m.cur.items():
            if o == owner:
                return c
        return None

    def _lwp_want(self, owner) -> list:
        cpu = self._where(owner)
        if cpu is not None:
            return [self._base(owner, ("run", cpu), str(owner))] + self._entries(owner)
        for t_, x in self.m.borrowed.items():
            if x == owner:
                return [self._base(owner, ("pinned", t_), f"borrowed by {t_}")] + \
                    self._entries(owner)
        self.runs.pop(owner, None)
        return []

    def _cpu_want(self, cpu: int) -> list:
        """The LWP switched in, its frames, then each borrower's slice and
        its own entries (a borrow happens inside the borrowed LWP's frame)."""
        chain = []
        o = self.m.cur.get(cpu)
        while o is not None and len(chain) < DEPTH:
            chain.append(o)
            o = self.m.borrowed.get(o)
        chain.reverse()
        old = self.cpu_keys.get(cpu, [])
        keys = []
        for i, o in enumerate(chain):
            if i < len(old) and old[i][0] == o and (i == 0 or keys[i - 1] == old[i - 1]):
                keys.append(old[i])
            else:
                self.seq += 1
                keys.append((o, ("cpu", self.seq)))
        self.cpu_keys[cpu] = keys
        want = []
        for o, key in keys:
            want.append((key, str(o)))
            want += self._entries(o)
        return want

    def _refresh(self, cpu: int, owners: set) -> None:
        for o in sorted(owners, key=str):
            if o is not None:
                self._sync(self._lwp_track(o), self._lwp_want(o), "run")
        self._sync(self._cpu_track(cpu), self._cpu_want(cpu), "run")

    # ------------------------------------------------------------ one event
    def add(self, ev: dict) -> None:
        t, cpu, kind = ev["t"], ev["cpu"], ev["ev"]
        self.t, self.cpu = max(self.t, t), cpu
        self._cpu_track(cpu)
        touched = {self.m.cur.get(cpu)}
        touched.update(ev.get(k) for k in OWNER_FIELDS if isinstance(ev.get(k), str))
        self.m.add(ev)
        o = self.m.cur.get(cpu)
        while o is not None and o not in touched:
            touched.add(o)
            o = self.m.borrowed.get(o)
        touched.update(self.m.borrowed.get(x) for x in list(touched))
        touched.discard(None)
        self._refresh(cpu, touched)
        self._locks(ev, kind)
        self._lines(ev, kind)
        if kind in INSTANTS:
            label = f"violation: {ev.get('rule')}" if kind == "check.violation" else \
                kind + (f" {ev['line']}" if isinstance(ev.get("line"), int) else "")
            args = {k: v for k, v in ev.items() if k not in ("t", "cpu", "ev")}
            self._instant(self._cpu_track(cpu), label, kind.split(".")[0], args)
        elif kind == "cpu.ipl" and isinstance(ev.get("ipl"), int):
            self._counter(CPU_PID, f"cpu{cpu} IPL", ev["ipl"])
        if self.deferred:
            self._flush_flows(cpu)

    def _locks(self, ev: dict, kind: str) -> None:
        if kind.startswith("lock."):
            who, lock = ev.get("by"), ev.get("lock")
            if kind in ("lock.contend", "lock.block"):
                self._lock_set(who, ("wait", lock), f"wait {lock}", add=True)
            elif kind == "lock.acquire":
                self._lock_set(who, ("wait", lock), None, add=False)
                self._lock_set(who, ("hold", lock), f"hold {lock}", add=True)
            elif kind == "lock.release":
                self._lock_set(who, ("hold", lock), None, add=False)
        elif kind.startswith("biglock."):
            who, depth = ev.get("lwp"), ev.get("depth")
            if kind == "biglock.contend":
                self._lock_set(who, ("wait", "big"), "wait big lock", add=True)
            elif kind == "biglock.acquire":
                self._lock_set(who, ("wait", "big"), None, add=False)
                if isinstance(depth, int) and depth > 0:
                    self._lock_set(who, ("hold", "big"), "hold big lock", add=True)
            elif kind == "biglock.release" and depth == 0:
                self._lock_set(who, ("hold", "big"), None, add=False)

    def _lock_set(self, who, key, name, add: bool) -> None:
        if not isinstance(who, str):
            return
        held = self.locks.setdefault(who, [])
        keys = [h[0] for h in held]
        if add and key not in keys:
            self.seq += 1
            held.append((key, name, self.seq))
        elif not add and key in keys:
            del held[keys.index(key)]
        else:
            return
        tr = self._track(LWP_PID, LOCK_TID_BASE + self._lwp_tid(who), f"{who} locks")
        self._sync(tr, [((k, s), n) for k, n, s in held], "lock")

    def _lines(self, ev: dict, kind: str) -> None:
        line = ev.get("line")
        if not isinstance(line, int):
            return
        if kind in ("irq.raise", "irq.lower"):
            tr = self._track(LINE_PID, line, f"line {line}")
            on = kind == "irq.raise"
            if on and not tr.open:
                self.seq += 1
            key = tr.open[0][0] if on and tr.open else ("raised", self.seq)
            self._sync(tr, [(key, f"line {line} raised")] if on else [], "irq")
            q = self.m.by_handler.open.get(line)
            if on and q and q[-1].raise_t == ev["t"] and q[-1].start_t is None:
                self._flow_start(tr, line, ev["t"])
        elif kind in ("pic.mask", "pic.unmask"):
            self._counter(LINE_PID, f"line {line} masked", int(self.m.masked.get(
                (line, "ioapic" if line in self.m.ioapic_lines else "pic"), False)))
        elif kind in ("pic.hold", "pic.release"):
            held = 1 if kind == "pic.hold" else int(bool(ev.get("held")))
            self._counter(LINE_PID, f"line {line} held", held)

    # --------------------------------------------------------------- flows
    @staticmethod
    def _fid(line: int, raise_t: int) -> int:
        return raise_t * 64 + (line & 63)

    def _flow_start(self, tr: _Track, line: int, raise_t: int) -> None:
        fid = self._fid(line, raise_t)
        if len(self.flows) >= FLOWS_OPEN:
            self.flows.pop(next(iter(self.flows)))
        self.flows[fid] = line
        self._write({"ph": "s", "name": f"irq {line}", "cat": "flow", "id": fid,
                     "ts": self._stamp(tr), "pid": tr.pid, "tid": tr.tid})

    def _flow(self, what: str, line: int, raise_t: int, t: int) -> None:
        """The handler tracker (emulator/metrics.py): handler start is a
        step, work done the end (the proxy, unless the kernel emits
        work.done for the line)."""
        if what == "start":
            self._flow_step(line, raise_t, "t")
        elif what == "done" and line not in self.work_done_lines:
            self._flow_step(line, raise_t, "f")

    def _flow_intr(self, what: str, line: int, raise_t: int, t: int) -> None:
        """The interrupt-frame tracker: the delivery is a step; its end ends
        the arrow only in a trace without handler events (another kernel)."""
        if what == "start":
            self._flow_step(line, raise_t, "t")
        elif what == "done" and not self.m.handler_lines:
            self._flow_step(line, raise_t, "f")

    def _work_flow(self, what: str, line: int, raise_t: int, t: int) -> None:
        self.work_done_lines.add(line)
        self._flow_step(line, raise_t, "f")

    def _flow_step(self, line: int, raise_t: int, ph: str) -> None:
        fid = self._fid(line, raise_t)
        if fid in self.flows:
            self.deferred.append((fid, line, ph))
            if ph == "f":
                del self.flows[fid]

    def _flush_flows(self, cpu: int) -> None:
        """Bind the steps to the slice open on the CPU once the event is drawn."""
        tr = self._cpu_track(cpu)
        for fid, line, ph in self.deferred:
            rec = {"ph": ph, "name": f"irq {line}", "cat": "flow", "id": fid,
                   "ts": self._stamp(tr), "pid": tr.pid, "tid": tr.tid}
            if ph == "f":
                rec["bp"] = "e"
            self._write(rec)
        self.deferred = []

    # --------------------------------------------------------------- end
    def finish(self) -> None:
        for tr in sorted(self.tracks.values(), key=lambda x: (x.pid, x.tid)):
            self._sync(tr, [], "run")
        for pid, name in ((CPU_PID, "CPUs"), (LWP_PID, "LWPs"), (LINE_PID, "IRQ lines")):
            self._write({"ph": "M", "name": "process_name", "pid": pid, "tid": 0,
                         "args": {"name": name}})
        self.out.write("\n]}\n")


def export(events: Iterable[dict], out) -> None:
    ex = Exporter(out)
    for ev in events:
        ex.add(ev)
    ex.finish()


def export_file(src: str, dst: str) -> None:
    """Export between files; ``dst`` is never the input, errors are one line."""
    try:
        same = os.path.exists(dst) and os.path.samefile(src, dst)
    except OSError:
        same = False
    if same:
        raise TraceError(f"{dst}: is the input trace; refusing to overwrite it")
    created = not os.path.exists(dst)
    try:
        with open(dst, "w", encoding="utf-8") as out:
            export(read_events(src), out)
    except OSError as err:
        if created and os.path.isfile(dst):
            os.unlink(dst)
        raise TraceError(f"{dst}: cannot write: {err.strerror or err}") from None
