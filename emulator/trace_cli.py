"""``python -m emulator trace``: read, compare and export irqlab traces.

Commands (``main(argv)``, argv without the leading ``trace``):

    trace summary FILE
        event counts by kind and CPU, then the numbers of emulator/metrics.py
        (what ``python -m guest_kernel compare`` tabulates, from the same
        module): per IRQ line, raise to handler start, to handler end, to
        work done, masked while raised, overhead per interrupt (n, median,
        p90, p99, max in instructions); switches per interrupt, pins,
        ithread blocks, big-lock hold/wait, mutex waits, packets.
    trace diff A B [--context N] [--ignore FIELD ...] [--window N]
                   [--symbolize IMAGE.sym.json [--symbolize B.sym.json]]
        walks both traces in step and prints the first divergence: the last
        N events they share, then both sides aligned (difflib) over the next
        window of events.  Exit status 0 identical, 1 different, 2 error.
        (--context N >= 0, --window N >= 1.)
        ``--symbolize`` compares addresses in the layout-free form of
        emulator/trace_symbols.py (eip as ``symbol+0xoff``, esp from its
        stack's top, wait channels by symbol): given once, for both traces;
        twice, A's image then B's (two models are two images).
    trace export --perfetto FILE OUT.json
        the Chrome trace-event format that ui.perfetto.dev opens: every
        mechanism on CPU, LWP and IRQ-line tracks (emulator/perfetto.py).

Definitions: emulator/metrics.py's contract (one place for both commands).

All streaming: memory is bounded by the number of lines/LWPs, the diff
window and the context, and for summary one integer per latency sample
and per interrupt (as metrics.py says).

Errors are one line on stderr, ``trace: ...``, exit status 2: bad arguments,
and any file that is not a good trace (emulator/trace.py ``read_events``:
non-ASCII bytes, a corrupt or truncated .gz, wrong field types, integers
of thousands of digits, deep nesting, a line over 1 MiB); Ctrl-C is 130.
"""

from __future__ import annotations

import argparse
import collections
import difflib
import json
import os
import sys
from typing import Iterable, Iterator, Optional

from emulator.metrics import Metrics
from emulator.perfetto import export as export_perfetto, export_file  # noqa: F401
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


class Summary:
    """Counts per kind and CPU and the metrics of emulator/metrics.py (the
    numbers ``python -m guest_kernel compare`` tabulates), over one pass."""

    def __init__(self) -> None:
        self.count = 0
        self.first_t: Optional[int] = None
        self.last_t = 0
        self.kinds: collections.Counter = collections.Counter()
        self.cpus: collections.Counter = collections.Counter()
        self.rules: collections.Counter = collections.Counter()
        self.metrics = Metrics()

    def add(self, ev: dict) -> None:
        self.count += 1
        t = ev["t"]
        if self.first_t is None:
            self.first_t = t
        self.last_t = max(self.last_t, t)
        self.kinds[ev["ev"]] += 1
        self.cpus[ev["cpu"]] += 1
        if ev["ev"] == "check.violation":
            self.rules[ev.get("rule")] += 1
        self.metrics.add(ev)

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
        out += render_metrics(self.metrics)
        total = sum(self.rules.values())
        out.append(f"violations: {total}")
        for rule in sorted(self.rules):
            out.append(f"  {rule:<30}{self.rules[rule]:>7}")
        return "\n".join(out)


def _dist_row(label: str, d: dict) -> str:
    cols = "".join(f"{'-' if d[k] is None else d[k]:>10}" for k in ("median", "p90", "p99", "max"))
    total = f"{d['total']:>12}" if "total" in d else ""
    return f"  {label:<36}{d['n']:>7}{cols}{total}"


def render_metrics(m: Metrics) -> list:
    """The metrics block of ``trace summary`` (every number as metrics.json has it)."""
    r = m.result()
    out = ["interrupt latency (instructions):"]
    lines = m.lines()
    if not lines:
        out.append("  no interrupts handled")
        return out
    head = f"  {'':<36}{'n':>7}{'median':>10}{'p90':>10}{'p99':>10}{'max':>10}"
    out.append(head + f"{'total':>12}")
    for line in lines:
        key = str(line)
        out.append(f"  line {line}: {r['irqs'][key]} interrupts delivered")
        done = "raise -> work done" + (" (proxy)" if r["work_done_source"][key] == "proxy" else "")
        for label, d in (("raise -> handler start", r["latency_start"][key]),
                         ("raise -> handler end", r["latency_end"][key]),
                         (done, r["latency_done"][key]),
                         ("masked while raised", r["masked"][key]),
                         ("overhead per interrupt", r["overhead_by_line"][key])):
            if d["n"]:
                out.append(_dist_row(f"line {line} {label}", d))
        since = m.still_masked(line)
        if since is not None:
            out.append(f"  line {line} still masked at the end (since t={since})")
    out.append("interrupt cost:")
    out.append(_dist_row("overhead per interrupt, all lines", r["overhead"]))
    out.append(f"  lwp switches per interrupt       {r['switches_per_irq']}")
    out.append(f"  stack switches per interrupt     {r['stack_switches_per_irq']}")
    out.append(f"  pins {r['pins']}, ithread blocks {r['ithread_blocks']}")
    for name in ("biglock_hold", "biglock_wait"):
        b = r[name]
        if b["total"]:
            per = ", ".join(f"cpu{c} {v}" for c, v in b["per_cpu"].items())
            out.append(f"  {name.replace('_', ' ')} {b['total']} ({per})")
    for lock, d in r["mutex_wait"].items():
        out.append(_dist_row(f"mutex wait {lock}", d))
    if r["stack_depth"]:
        out.append("  deepest stack use (bytes): " +
                   ", ".join(f"{k} {v}" for k, v in r["stack_depth"].items()))
    if r["packets_in"]:
        out.append(f"  packets in {r['packets_in']}, done {r['packets_done']}, "
                   f"lost {r['packets_lost']}")
    return out


def summarize(path: str) -> str:
    s = Summary()
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


# ----------------------------------------------------------------------- CLI
class _Parser(argparse.ArgumentParser):
    def error(self, message):              # one line, status 2 (README's table)
        sys.stderr.write(f"trace: {message}\n")
        raise SystemExit(2)


def _count(least: int):
    """An argparse type: an integer >= ``least``."""
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
        if value < least:
            raise argparse.ArgumentTypeError(f"must be at least {least}, not {value}")
        return value
    return parse


def _parser() -> argparse.ArgumentParser:
    p = _Parser(prog="python -m emulator trace",
                description="Read, compare and export irqlab traces.")
    sub = p.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("summary", help="counts and interrupt latency")
    s.add_argument("file")
    d = sub.add_parser("diff", help="first divergence between two traces")
    d.add_argument("a")
    d.add_argument("b")
    d.add_argument("--context", type=_count(0), default=5, help="events shown before it (5)")
    d.add_argument("--window", type=_count(1), default=40, help="events aligned after it (40)")
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
            export_file(args.file, args.out)        # emulator/perfetto.py
            return 0
    except TraceError as err:
        print(f"trace: {err}", file=sys.stderr)
        return 2
    except BrokenPipeError:
        # the reader (head, less) went away: not an error worth a traceback
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except KeyboardInterrupt:
        print("trace: interrupted", file=sys.stderr)
        return 130
    return 2


if __name__ == "__main__":
    sys.exit(main())
