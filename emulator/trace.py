"""The trace: irqlab's event model, and a streaming JSON Lines writer/reader.

Contract
--------
A trace is JSON Lines: one event a line, each a JSON object whose first keys
are always ``t`` (virtual time, guest instructions retired, see
emulator/clock.py), ``cpu`` (the CPU index) and ``ev`` (the kind), followed
by the kind's own fields in the fixed order given in ``KINDS`` and then, for
any field a kind does not declare, in alphabetical order.  Values are ints,
strings, booleans, ``null`` or lists of those; floats are refused, so the
same run always gives the same bytes.

Field names tools rely on (fixed by issue 5): ``line`` on ``irq.*`` and
``pic.*``; ``vector`` on ``intr.*``; ``from``/``to`` (owner names such as
``lwp 3``, ``ithread 1``, ``intr cpu0``, ``boot``) on ``stack.switch`` and
``lwp.switch``; ``lwp`` on ``lwp.pin``/``lwp.unpin``; ``ithread`` and
``line`` on ``ithread.*``; ``lock``, ``owner`` and ``owner_running`` on
``lock.*``; ``depth`` on ``biglock.*``; ``rule`` on ``check.violation``.

Memory is bounded: the writer streams every event to the file as it comes
(block-buffered), the reader is a generator, and ``Recent`` keeps only the
last N events (what a violation report shows).  Nothing here reads the wall
clock.
"""

from __future__ import annotations

import collections
import gzip
import io
import json
import sys
from typing import Any, Callable, Iterable, Iterator, Optional

# Every kind irqlab emits, with its fields in serialisation order.  A field
# may be absent from an event; fields not listed here follow, sorted.
KINDS: dict[str, tuple[str, ...]] = {
    # interrupt hardware (emitted by the devices)
    "irq.raise": ("line",),
    "irq.lower": ("line",),
    "pic.ack": ("line", "vector"),
    "pic.eoi": ("line",),
    # ``via`` is "ioapic" when the kernel masks the line at its IO APIC entry
    "pic.mask": ("line", "via"),
    "pic.unmask": ("line", "via"),
    # the kernel holding a line masked for its handler thread (pic_hold /
    # pic_release); ``held`` is whether it is still held after the release
    "pic.hold": ("line",),
    "pic.release": ("line", "held"),
    # CPU (emitted by the machine's delivery and the observer's iret hooks)
    "intr.enter": ("vector", "line", "kind", "eip", "owner"),
    "intr.exit": ("vector", "line", "eip", "owner"),
    "stack.switch": ("from", "to", "esp", "eip"),
    # kernel (emitted by the observer from the kernel's obs_ labels)
    "lwp.switch": ("from", "to"),
    "lwp.pin": ("lwp", "by"),
    "lwp.unpin": ("lwp", "by"),
    "lwp.sleep": ("lwp", "wchan"),
    "lwp.wakeup": ("lwp", "by"),
    "wchan.wakeup": ("wchan", "by"),
    "ithread.block": ("ithread", "line", "lock"),
    "ithread.done": ("ithread", "line"),
    "ithread.pool": ("ithread",),
    "handler.enter": ("line", "by", "path"),
    "handler.exit": ("line", "by", "path"),
    "lock.acquire": ("lock", "owner", "owner_running", "kind", "by"),
    "lock.release": ("lock", "owner", "owner_running", "kind", "by"),
    "lock.contend": ("lock", "owner", "owner_running", "kind", "by"),
    "lock.spin": ("lock", "owner", "owner_running", "kind", "by"),
    "lock.block": ("lock", "owner", "owner_running", "kind", "by"),
    "lock.wakeup": ("lock", "owner", "owner_running", "kind", "by"),
    # an acquisition that found the mutex's owner word naming someone else
    "lock.mismatch": ("lock", "by", "word"),
    "biglock.acquire": ("depth", "lwp"),
    "biglock.release": ("depth", "lwp"),
    "softint.schedule": ("softint", "by"),
    "softint.run": ("softint", "by"),
    "cpu.idle": (),
    # the IPL a CPU runs at, when it changes (the kernel's pic_apply)
    "cpu.ipl": ("ipl",),
    # the big lock found held by another CPU: this CPU spins until its
    # biglock.acquire
    "biglock.contend": ("lwp",),
    # at the end of a run, per kernel stack: how deep it was ever used
    "stack.usage": ("stack", "kind", "size", "used"),
    # several CPUs (the SMP kernel's labels); fields in alphabetical order,
    # as they were written before these kinds were declared
    "cpu.start": ("eip", "vector"),     # the machine: an AP leaves wait-for-SIPI
    "cpu.up": ("apic", "lwp"),
    "ipi.send": ("by", "func", "to", "vector"),
    "ipi.resched": ("by", "wchan"),
    "xcall.run": ("arg", "by", "func"),
    "wq.steal": ("by", "victim"),
    # the checkers
    "check.violation": ("rule", "message"),
    "check.off": ("rule", "reason"),
}

HEAD = ("t", "cpu", "ev")

_dumps = json.JSONEncoder(separators=(",", ":"), ensure_ascii=True,
                          check_circular=False).encode


class TraceError(Exception):
    """A trace file that cannot be read; the message is one line for users."""


def _check_value(kind: str, name: str, value: Any) -> None:
    if isinstance(value, float):
        raise TypeError(f"trace field {kind}.{name} is a float ({value!r}); "
                        "traces hold integers only, so runs stay byte-identical")


def make_event(kind: str, t: int, cpu: int, fields: dict) -> dict:
    """An event dict with the keys in serialisation order (floats refused)."""
    ev = {"t": t, "cpu": cpu, "ev": kind}
    order = KINDS.get(kind, ())
    for name in order:
        if name in fields:
            ev[name] = fields[name]
    if len(ev) - 3 != len(fields):
        for name in sorted(fields):
            if name not in ev:
                ev[name] = fields[name]
    for name, value in fields.items():
        if value.__class__ is float:
            _check_value(kind, name, value)
    return ev


def dumps(ev: dict) -> str:
    """One event as its JSON line (without the newline), deterministically.

    The event's own key order is kept when it starts with t, cpu, ev (as
    ``make_event`` builds it); otherwise it is normalised first.
    """
    if list(ev)[:3] != ["t", "cpu", "ev"]:
        fields = {k: v for k, v in ev.items() if k not in HEAD}
        ev = make_event(ev["ev"], ev["t"], ev["cpu"], fields)
    else:
        for k, v in ev.items():
            if v.__class__ is float:
                _check_value(ev["ev"], k, v)
    return _dumps(ev)


def format_event(ev: dict) -> str:
    """A person's one-line view: ``t=1234 cpu0 irq.raise line=5``."""
    parts = [f"t={ev.get('t')}", f"cpu{ev.get('cpu')}", str(ev.get("ev"))]
    for k, v in ev.items():
        if k in HEAD:
            continue
        if isinstance(v, str) and (" " in v or v == ""):
            parts.append(f"{k}={v!r}")
        elif isinstance(v, bool):
            parts.append(f"{k}={'yes' if v else 'no'}")
        elif isinstance(v, int) and k in ("eip", "esp", "addr", "wchan"):
            parts.append(f"{k}={v:#x}")
        else:
            parts.append(f"{k}={v}")
    return " ".join(parts)


class Recent:
    """The last ``n`` events, for violation reports (bounded memory)."""

    def __init__(self, n: int = 32) -> None:
        self.events: collections.deque = collections.deque(maxlen=n)

    def __call__(self, ev: dict) -> None:
        self.events.append(ev)

    def tail(self, n: Optional[int] = None) -> list:
        evs = list(self.events)
        return evs if n is None else evs[-n:]


class TraceWriter:
    """Streams events to a JSON Lines file as they come.

    ``write(ev)`` takes a complete event dict; ``emit(kind, cpu, t=..., **f)``
    builds one.  When ``t`` is omitted the writer reads it from ``clock``
    (an ``emulator.clock.Clock``), so it can serve directly as the machine's
    trace sink.  ``close()`` flushes and closes (idempotent).
    """

    def __init__(self, target, clock=None) -> None:
        if isinstance(target, (str, bytes)) or hasattr(target, "__fspath__"):
            path = str(target)
            if path == "-":
                self._f = sys.stdout
                self._own = False
            elif path.endswith(".gz"):
                self._f = io.TextIOWrapper(
                    gzip.GzipFile(path, "wb", mtime=0), encoding="ascii",
                    newline="\n")
                self._own = True
            else:
                self._f = open(path, "w", encoding="ascii", newline="\n",
                               buffering=1 << 20)
                self._own = True
        else:
            self._f = target
            self._own = False
        self.clock = clock
        self.count = 0
        self.closed = False

    def write(self, ev: dict) -> None:
        self._f.write(dumps(ev))
        self._f.write("\n")
        self.count += 1

    __call__ = write

    def emit(self, kind: str, cpu: int = 0, /, t: Optional[int] = None, **fields) -> dict:
        if t is None:
            t = self.clock.now if self.clock is not None else 0
        ev = make_event(kind, t, cpu, fields)
        self.write(ev)
        return ev

    def flush(self) -> None:
        if not self.closed:
            self._f.flush()

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        if self._own:
            self._f.close()
        else:
            self._f.flush()

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def open_writer(path, clock=None) -> TraceWriter:
    """The writer ``python -m emulator run --trace FILE`` uses."""
    return TraceWriter(path, clock)


def _open_text(path: str):
    if path == "-":
        return sys.stdin
    try:
        with open(path, "rb") as probe:
            magic = probe.read(2)
        if magic == b"\x1f\x8b":
            return io.TextIOWrapper(gzip.GzipFile(path, "rb"), encoding="ascii")
        return open(path, "r", encoding="ascii")
    except OSError as e:
        raise TraceError(f"{path}: cannot read trace: {e.strerror}") from None


def read_events(path) -> Iterator[dict]:
    """Yield the events of a trace file one by one (a generator)."""
    path = str(path)
    f = _open_text(path)
    try:
        yield from parse_lines(f, path)
    finally:
        if f is not sys.stdin:
            f.close()


def parse_lines(lines: Iterable[str], name: str = "<trace>") -> Iterator[dict]:
    """Parse JSON Lines into events, checking the three head keys."""
    for n, line in enumerate(lines, 1):
        line = line.strip()
        if not line:
            continue
        try:
            ev = json.loads(line)
        except ValueError as e:
            raise TraceError(f"{name}:{n}: not a JSON line ({e.msg})") from None
        except UnicodeDecodeError:
            raise TraceError(f"{name}:{n}: not an ASCII JSON line") from None
        if not isinstance(ev, dict) or not all(k in ev for k in HEAD):
            raise TraceError(f"{name}:{n}: an event needs t, cpu and ev")
        yield ev


class Fanout:
    """Hands each event to several consumers (writer, checkers, recent)."""

    def __init__(self, consumers: Iterable[Callable[[dict], None]] = ()) -> None:
        self.consumers = list(consumers)

    def add(self, consumer: Callable[[dict], None]) -> None:
        self.consumers.append(consumer)

    def __call__(self, ev: dict) -> None:
        for c in self.consumers:
            c(ev)


class TraceSink:
    """Stamps events with virtual time and hands them to one consumer.

    ``emit(kind, cpu, **fields)`` is the machine's and the observer's way in;
    calling the sink as ``sink(kind, **fields)`` (a device's ``self.trace``)
    emits on ``fields['cpu']`` or CPU 0.  ``consumer`` is typically a
    ``Fanout`` of a ``TraceWriter`` and the checkers; with none, events are
    dropped, so tracing off costs one call.
    """

    def __init__(self, clock, consumer: Optional[Callable[[dict], None]] = None,
                 drop: tuple = ()) -> None:
        self.clock = clock
        self.consumer = consumer
        self.drop = frozenset(drop)     # kinds said better by someone else

    def emit(self, kind: str, cpu: int = 0, /, t: Optional[int] = None, **fields) -> Optional[dict]:
        if self.consumer is None or kind in self.drop:
            return None
        ev = make_event(kind, self.clock.now if t is None else t, cpu, fields)
        self.consumer(ev)
        return ev

    def __call__(self, kind: str, **fields) -> Optional[dict]:
        cpu = fields.pop("cpu", 0)
        return self.emit(kind, cpu, **fields)
