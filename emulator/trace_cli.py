"""``python -m emulator trace``: read, compare and export irqlab traces.

Commands (``main(argv)``, argv without the leading ``trace``):

    trace summary FILE
        event counts by kind and CPU, and interrupt latency per IRQ line in
        instructions (median, 99th percentile, maximum): raise to handler
        start, raise to handler end, and time the line stayed masked.
    trace diff A B [--context N] [--ignore FIELD ...] [--window N]
                   [--symbolize IMAGE.sym.json [--symbolize B.sym.json]]
        walks both traces in step and prints the first divergence: the last
        N events they share, then both sides aligned (difflib) over the next
        window of events.  Exit status 0 identical, 1 different, 2 error.
        ``--symbolize`` compares addresses in the layout-free form of
        emulator/trace_symbols.py (eip as ``symbol+0xoff``, esp from its
        stack's top, wait channels by symbol): given once, for both traces;
        twice, A's image then B's (two models are two images).
    trace export --perfetto FILE OUT.json
        the Chrome trace-event format (JSON object with ``traceEvents``) that
        ui.perfetto.dev and chrome://tracing open: one track per CPU and one
        per LWP, slices for what runs and, nested in them, interrupt slices.

Latency definitions (per IRQ line): an *episode* starts at the first
``irq.raise`` while no episode is outstanding; the handler starts at the
first ``handler.enter`` for the line (when the kernel reports handlers) or
else the first ``intr.enter`` with that line; it ends at ``handler.exit``
(or ``intr.exit``), or at ``ithread.done`` when the handler's interrupt
thread blocked or the handler runs in a thread (``path`` threaded).  Raises during an episode open the next one.
Masked time runs from ``pic.mask`` to the next ``pic.unmask`` of the line.

All streaming: memory is bounded by the number of lines/LWPs, the diff
window and the context, never by the trace length.
"""

from __future__ import annotations

import argparse
import collections
import difflib
import json
import os
import sys
from typing import Iterable, Iterator, Optional

from emulator.trace import TraceError, format_event, read_events
from emulator.trace_symbols import Symbolizer, symbolize_events


# ---------------------------------------------------------------- statistics
def percentiles(values: list) -> tuple:
    """(n, median, p99, max) of integers by nearest rank; no floats."""
    if not values:
        return (0, None, None, None)
    v = sorted(values)
    n = len(v)
    median = v[(n - 1) // 2]
    p99 = v[max(0, -(-99 * n // 100) - 1)]
    return (n, median, p99, v[-1])


class _Episode:
    __slots__ = ("raise_t", "start_t", "blocked")

    def __init__(self, raise_t: int) -> None:
        self.raise_t = raise_t
        self.start_t: Optional[int] = None
        self.blocked = False        # ends at ithread.done: blocked, or a threaded handler


class Summary:
    """Counts and latencies over one pass of an event stream."""

    def __init__(self, handler_lines: Optional[set] = None) -> None:
        self.count = 0
        self.first_t: Optional[int] = None
        self.last_t = 0
        self.kinds: collections.Counter = collections.Counter()
        self.cpus: collections.Counter = collections.Counter()
        self.rules: collections.Counter = collections.Counter()
        self.handler_lines = handler_lines or set()
        self.episode: dict = {}         # line -> current _Episode
        self.pending: dict = {}         # line -> raise time of the next episode
        self.to_start: dict = collections.defaultdict(list)
        self.to_end: dict = collections.defaultdict(list)
        self.masked_since: dict = {}
        self.masked: dict = collections.defaultdict(list)

    # one event ------------------------------------------------------------
    def add(self, ev: dict) -> None:
        self.count += 1
        t = ev["t"]
        if self.first_t is None:
            self.first_t = t
        self.last_t = max(self.last_t, t)
        kind = ev["ev"]
        self.kinds[kind] += 1
        self.cpus[ev["cpu"]] += 1
        line = ev.get("line")
        if kind == "check.violation":
            self.rules[ev.get("rule")] += 1
        elif kind == "irq.raise" and line is not None:
            ep = self.episode.get(line)
            if ep is None:
                self.episode[line] = _Episode(t)
            elif ep.start_t is not None and line not in self.pending:
                self.pending[line] = t
        elif kind == "pic.mask" and line is not None:
            self.masked_since.setdefault(line, t)
        elif kind == "pic.unmask" and line is not None:
            since = self.masked_since.pop(line, None)
            if since is not None:
                self.masked[line].append(t - since)
        elif line is not None:
            by_handler = line in self.handler_lines
            start = "handler.enter" if by_handler else "intr.enter"
            ep = self.episode.get(line)
            if ep is None:
                return
            if kind == start and ep.start_t is None:
                ep.start_t = t
                ep.blocked = ev.get("path") == "threaded"
                self.to_start[line].append(t - ep.raise_t)
            elif ep.start_t is None:
                return
            elif kind == "ithread.block":
                ep.blocked = True
            elif ((not ep.blocked and kind == ("handler.exit" if by_handler else "intr.exit"))
                  or (ep.blocked and kind == "ithread.done")):
                self.to_end[line].append(t - ep.raise_t)
                nxt = self.pending.pop(line, None)
                if nxt is None:
                    del self.episode[line]
                else:
                    self.episode[line] = _Episode(nxt)

    # report ---------------------------------------------------------------
    def render(self, name: str) -> str:
        out = [f"trace: {name}"]
        span = "" if self.first_t is None else f" over t={self.first_t}..{self.last_t}"
        ncpu = len(self.cpus)
        out.append(f"events: {self.count}{span}, {ncpu} cpu{'s' if ncpu != 1 else ''}")
        for kind in sorted(self.kinds):
            out.append(f"  {kind:<18}{self.kinds[kind]:>10}")
        if ncpu > 1:
            for cpu in sorted(self.cpus):
                out.append(f"  cpu{cpu:<15}{self.cpus[cpu]:>10}")
        # lines that interrupted; masks of lines that never did are spl noise
        lines = sorted(set(self.to_start) | set(self.to_end))
        out.append("interrupt latency (instructions):")
        if not lines:
            out.append("  no interrupts handled")
        else:
            out.append(f"  {'':<30}{'n':>7}{'median':>10}{'p99':>10}{'max':>10}")
            for line in lines:
                for label, vals in (("raise -> handler start", self.to_start[line]),
                                    ("raise -> handler end", self.to_end[line]),
                                    ("masked", self.masked[line])):
                    n, med, p99, mx = percentiles(vals)
                    if n == 0:
                        continue
                    out.append(f"  {'line ' + str(line) + ' ' + label:<30}"
                               f"{n:>7}{med:>10}{p99:>10}{mx:>10}")
                if line in self.masked_since:
                    out.append(f"  line {line} still masked at the end "
                               f"(since t={self.masked_since[line]})")
        total = sum(self.rules.values())
        out.append(f"violations: {total}")
        for rule in sorted(self.rules):
            out.append(f"  {rule:<30}{self.rules[rule]:>7}")
        return "\n".join(out)


def summarize(path: str) -> str:
    handler_lines = {ev["line"] for ev in read_events(path)
                     if ev["ev"] == "handler.enter" and "line" in ev}
    s = Summary(handler_lines)
    for ev in read_events(path):
        s.add(ev)
    return s.render(path)


# ---------------------------------------------------------------------- diff
def _key(ev: dict, ignore: frozenset) -> tuple:
    return tuple((k, json.dumps(v)) for k, v in ev.items() if k not in ignore)


def diff_events(a: Iterable[dict], b: Iterable[dict], context: int = 5,
                window: int = 40, ignore: Iterable[str] = (),
                names: tuple = ("A", "B")) -> tuple:
    """Compare two event streams.  Returns (same, text).

    The streams are walked in step; at the first event that differs the
    text shows the ``context`` events before it and both sides aligned over
    the next ``window`` events of each.  Fields in ``ignore`` are left out
    of the comparison (e.g. ``t`` to compare ordering only).
    """
    ignore = frozenset(ignore)
    before: collections.deque = collections.deque(maxlen=context)
    ia, ib = iter(a), iter(b)
    index = 0
    while True:
        ea = next(ia, None)
        eb = next(ib, None)
        if ea is None and eb is None:
            return True, f"traces are identical ({index} events)"
        if ea is not None and eb is not None and _key(ea, ignore) == _key(eb, ignore):
            before.append(ea)
            index += 1
            continue
        break
    # the first divergence: gather a window of each side
    wa = ([ea] if ea is not None else []) + _take(ia, window - 1 if ea is not None else 0)
    wb = ([eb] if eb is not None else []) + _take(ib, window - 1 if eb is not None else 0)
    na, nb = names
    out = [f"traces differ at event {index + 1} (line {index + 1} of both files)"]
    if ea is None:
        out.append(f"{na} ends after {index} events; {nb} goes on")
    elif eb is None:
        out.append(f"{nb} ends after {index} events; {na} goes on")
    elif ea.get("ev") == eb.get("ev") and _key(dict(ea, t=0), ignore) == _key(dict(eb, t=0), ignore):
        out.append(f"same event, {ea['t'] - eb['t']:+d} instructions apart "
                   f"({na} t={ea['t']}, {nb} t={eb['t']})")
    else:
        fields = sorted(k for k in set(ea) | set(eb)
                        if k not in ignore and ea.get(k) != eb.get(k))
        out.append("fields that differ: " + ", ".join(fields))
    if before:
        out.append(f"  last {len(before)} events in common:")
        for ev in before:
            out.append("    " + format_event(ev))
    out.append(f"  then, aligned ('-' only in {na}, '+' only in {nb}, ' ' in both):")
    la = [format_event(e) for e in wa]
    lb = [format_event(e) for e in wb]
    ka = [_key(e, ignore) for e in wa]
    kb = [_key(e, ignore) for e in wb]
    sm = difflib.SequenceMatcher(a=ka, b=kb, autojunk=False)
    shown = 0
    for op, a0, a1, b0, b1 in sm.get_opcodes():
        if op == "equal":
            for i in range(a0, a1):
                out.append("    " + la[i])
        else:
            for i in range(a0, a1):
                out.append(f"  - {la[i]}")
            for j in range(b0, b1):
                out.append(f"  + {lb[j]}")
        shown += max(a1 - a0, b1 - b0)
        if shown >= window:
            break
    return False, "\n".join(out)


def _take(it: Iterator, n: int) -> list:
    out = []
    for _ in range(n):
        x = next(it, None)
        if x is None:
            break
        out.append(x)
    return out


# -------------------------------------------------------------------- export
class PerfettoExporter:
    """Builds Chrome trace-event JSON, streaming, from irqlab events.

    pid 1 "CPUs": one thread per CPU (tid = cpu).  pid 2 "LWPs": one thread
    per owner (LWP, interrupt thread), tids given in order of appearance.
    On both, a slice per stretch an owner runs, and inside it a slice per
    interrupt frame that owner is executing (frames live on the owner's
    stack, so they are suspended with it and nest by construction).  Point
    events (raises, masks, violations) are instant events on the CPU track.
    Timestamps are microseconds (t / 1000: one instruction = 1 ns).
    """

    CPU_PID = 1
    LWP_PID = 2

    def __init__(self, out) -> None:
        self.out = out
        self.first = True
        self.current: dict = {}        # cpu -> owner name (or None)
        self.frames: dict = collections.defaultdict(list)   # owner/cpu key -> [name]
        self.tids: dict = {}           # owner -> tid
        self.cpus: set = set()
        self.last_t = 0
        self.out.write('{"displayTimeUnit":"ns","traceEvents":[\n')

    def _write(self, rec: dict) -> None:
        if not self.first:
            self.out.write(",\n")
        self.first = False
        self.out.write(json.dumps(rec, separators=(",", ":"), sort_keys=True))

    @staticmethod
    def _ts(t: int):
        return t // 1000 if t % 1000 == 0 else round(t / 1000, 3)

    def _tid(self, owner: str) -> int:
        tid = self.tids.get(owner)
        if tid is None:
            tid = self.tids[owner] = len(self.tids) + 1
            self._write({"ph": "M", "name": "thread_name", "pid": self.LWP_PID,
                         "tid": tid, "args": {"name": owner}})
        return tid

    def _cpu(self, cpu: int) -> None:
        if cpu not in self.cpus:
            self.cpus.add(cpu)
            self._write({"ph": "M", "name": "thread_name", "pid": self.CPU_PID,
                         "tid": cpu, "args": {"name": f"cpu{cpu}"}})

    def _slice(self, ph: str, name: str, t: int, cpu: int, owner, cat: str) -> None:
        ts = self._ts(t)
        self._write({"ph": ph, "name": name, "cat": cat, "ts": ts,
                     "pid": self.CPU_PID, "tid": cpu})
        if owner is not None:
            self._write({"ph": ph, "name": name, "cat": cat, "ts": ts,
                         "pid": self.LWP_PID, "tid": self._tid(owner)})

    def _frames_key(self, cpu: int):
        owner = self.current.get(cpu)
        return owner if owner is not None else ("cpu", cpu)

    def add(self, ev: dict) -> None:
        t, cpu, kind = ev["t"], ev["cpu"], ev["ev"]
        self.last_t = max(self.last_t, t)
        self._cpu(cpu)
        if kind == "lwp.switch":
            old = self.current.get(cpu)
            self._suspend(cpu, t)
            new = ev.get("to")
            self.current[cpu] = new
            if new is not None:
                self._slice("B", str(new), t, cpu, new, "run")
                for name in self.frames[new]:
                    self._slice("B", name, t, cpu, new, "intr")
            del old
        elif kind == "intr.enter":
            name = (f"irq {ev['line']}" if ev.get("line") is not None
                    else f"vector {ev.get('vector')}")
            self.frames[self._frames_key(cpu)].append(name)
            self._slice("B", name, t, cpu, self.current.get(cpu), "intr")
        elif kind == "intr.exit":
            stack = self.frames[self._frames_key(cpu)]
            if stack:
                name = stack.pop()
                self._slice("E", name, t, cpu, self.current.get(cpu), "intr")
        elif kind in ("irq.raise", "irq.lower", "pic.mask", "pic.unmask",
                      "check.violation", "ithread.block", "ithread.done",
                      "lock.block", "lock.contend", "softint.schedule"):
            args = {k: v for k, v in ev.items() if k not in ("t", "cpu", "ev")}
            label = kind + (f" {ev['line']}" if "line" in ev else "")
            if kind == "check.violation":
                label = f"violation: {ev.get('rule')}"
            self._write({"ph": "i", "s": "t", "name": label, "cat": kind.split(".")[0],
                         "ts": self._ts(t), "pid": self.CPU_PID, "tid": cpu,
                         "args": args})

    def _suspend(self, cpu: int, t: int) -> None:
        """Close the running owner's slices on this CPU (frames stay on its stack)."""
        owner = self.current.get(cpu)
        if owner is None:
            for name in reversed(self.frames[("cpu", cpu)]):
                self._slice("E", name, t, cpu, None, "intr")
            # frames seen before any owner was known are attributed to the CPU
            self.frames.pop(("cpu", cpu), None)
            return
        for name in reversed(self.frames[owner]):
            self._slice("E", name, t, cpu, owner, "intr")
        self._slice("E", str(owner), t, cpu, owner, "run")

    def finish(self) -> None:
        for cpu in sorted(self.cpus):
            self._suspend(cpu, self.last_t)
            self.current[cpu] = None
        self._write({"ph": "M", "name": "process_name", "pid": self.CPU_PID,
                     "tid": 0, "args": {"name": "CPUs"}})
        self._write({"ph": "M", "name": "process_name", "pid": self.LWP_PID,
                     "tid": 0, "args": {"name": "LWPs"}})
        self.out.write("\n]}\n")


def export_perfetto(events: Iterable[dict], out) -> None:
    ex = PerfettoExporter(out)
    for ev in events:
        ex.add(ev)
    ex.finish()


# ----------------------------------------------------------------------- CLI
def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m emulator trace",
                                description="Read, compare and export irqlab traces.")
    sub = p.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("summary", help="counts and interrupt latency")
    s.add_argument("file")
    d = sub.add_parser("diff", help="first divergence between two traces")
    d.add_argument("a")
    d.add_argument("b")
    d.add_argument("--context", type=int, default=5, help="events shown before it (5)")
    d.add_argument("--window", type=int, default=40, help="events aligned after it (40)")
    d.add_argument("--ignore", action="append", default=[], metavar="FIELD",
                   help="leave FIELD out of the comparison (e.g. t)")
    d.add_argument("--symbolize", action="append", default=[], metavar="IMAGE.sym.json",
                   help="compare addresses as symbols and stack offsets; once: both "
                        "traces, twice: A's image then B's")
    e = sub.add_parser("export", help="Chrome trace-event JSON for Perfetto")
    e.add_argument("--perfetto", action="store_true", required=True,
                   help="the Chrome trace-event format (the only one)")
    e.add_argument("file")
    e.add_argument("out")
    return p


def _diff_inputs(args) -> tuple:
    """The two event streams ``diff`` compares, symbolised when asked."""
    a, b = read_events(args.a), read_events(args.b)
    if len(args.symbolize) > 2:
        raise TraceError("--symbolize is given once (both traces) or twice (A's, B's)")
    if args.symbolize:
        sa = Symbolizer.from_file(args.symbolize[0])
        sb = Symbolizer.from_file(args.symbolize[-1]) if len(args.symbolize) == 2 else sa
        a, b = symbolize_events(a, sa), symbolize_events(b, sb)
    return a, b


def main(argv: Optional[list] = None) -> int:
    args = _parser().parse_args(argv)
    try:
        if args.cmd == "summary":
            print(summarize(args.file))
            return 0
        if args.cmd == "diff":
            a, b = _diff_inputs(args)
            same, text = diff_events(a, b,
                                     context=args.context, window=args.window,
                                     ignore=args.ignore, names=(args.a, args.b))
            print(text)
            return 0 if same else 1
        if args.cmd == "export":
            try:
                out = open(args.out, "w", encoding="utf-8")
            except OSError as err:
                raise TraceError(f"{args.out}: cannot write: {err.strerror}") from None
            with out:
                export_perfetto(read_events(args.file), out)
            return 0
    except TraceError as err:
        print(f"trace: {err}", file=sys.stderr)
        return 2
    except BrokenPipeError:
        # the reader (head, less) went away: not an error worth a traceback
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    return 2


if __name__ == "__main__":
    sys.exit(main())
