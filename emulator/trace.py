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
import io
import json
import sys
import zlib
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
    # (``vector``: the entry's, ``ipl``: the line's, from the vector's class)
    "pic.mask": ("line", "via", "vector", "ipl"),
    "pic.unmask": ("line", "via", "vector", "ipl"),
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
    "lwp.wakeup": ("lwp", "by"),            # (, wchan, how: "timeout" when the clock ended it)
    # an idle CPU took an LWP from another CPU's run queue (``from_cpu``,
    # ``to_cpu``: CPU indexes; ``from``/``to`` are owner names elsewhere)
    "lwp.migrate": ("lwp", "from_cpu", "to_cpu"),
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
    # a driver's work for one event finished (after any bottom half)
    "work.done": ("line", "driver", "by"),
    "softint.schedule": ("softint", "by"),
    "softint.run": ("softint", "by"),
    "cpu.idle": (),
    # the IPL a CPU runs at, when it changes (the kernel's pic_apply)
    "cpu.ipl": ("ipl",),
    # the big lock found held by another CPU: this CPU spins until its
    # biglock.acquire
    "biglock.contend": ("lwp", "owner", "owner_cpu"),
    # at the end of a run, per kernel stack: how deep it was ever used
    "stack.usage": ("stack", "kind", "size", "used"),
    # several CPUs (the SMP kernel's labels); fields in alphabetical order,
    # as they were written before these kinds were declared
    "cpu.start": ("eip", "vector"),     # the machine: an AP leaves wait-for-SIPI
    "cpu.up": ("apic", "lwp"),
    "ipi.send": ("by", "func", "to", "vector"),
    # the reschedule IPI to CPU ``to`` for the LWP ``lwp`` queued there
    "ipi.resched": ("by", "lwp", "to"),
    "xcall.run": ("arg", "by", "func"),
    # the checkers
    "check.violation": ("rule", "message"),
    "check.off": ("rule", "reason"),
}

HEAD = ("t", "cpu", "ev")

_ENCODER = json.JSONEncoder(separators=(",", ":"), ensure_ascii=True, check_circular=False)
if getattr(json.encoder, "c_make_encoder", None) is None:
    _dumps = _ENCODER.encode
else:
    # what _ENCODER.encode runs, made once (JSONEncoder.iterencode builds its
    # C encoder at every call: a third of a trace line's cost)
    _chunks = json.encoder.c_make_encoder(None, _ENCODER.default,
                                          json.encoder.encode_basestring_ascii,
                                          None, ":", ",", False, False, True)

    def _dumps(ev: dict, _join="".join, _chunks=_chunks) -> str:
        return _join(_chunks(ev, 0))


class TraceError(Exception):
    """A trace file that cannot be read; the message is one line for users."""


def _check_value(kind: str, name: str, value: Any) -> None:
    if isinstance(value, float):
        raise TypeError(f"trace field {kind}.{name} is a float ({value!r}); "
                        "traces hold integers only, so runs stay byte-identical")


def make_event(kind: str, t: int, cpu: int, fields: dict) -> dict:
    """An event dict with the keys in serialisation order (floats refused)."""
    key = (kind, *fields)
    order = _ORDERS.get(key)
    if order is None:
        order = _order(kind, fields)
        if len(_ORDERS) < _MAX_ORDERS:
            _ORDERS[key] = order
    ev = {"t": t, "cpu": cpu, "ev": kind}
    if order is True:
        ev.update(fields)
    else:
        for name in order:
            ev[name] = fields[name]
    if float in set(map(type, fields.values())):
        for name, value in fields.items():
            _check_value(kind, name, value)
    return ev


# (kind, field names in the order given) -> the names in serialisation
# order, or True when that is the order given: worked out once per shape
# (there are a few dozen), each event then built by C-speed dict calls
_ORDERS: dict = {}
_MAX_ORDERS = 4096      # shapes kept at most (a caller inventing names forever)


def event_order(kind: str, names) -> tuple:
    """The serialisation order of an event of ``kind`` with the fields
    ``names`` (the module docstring): the kind's declared names as
    ``KINDS`` lists them, then the others sorted; a field named like a
    head key (t, cpu, ev) is left out.  Leaving a field out of an event
    leaves the others' order as it is."""
    declared = KINDS.get(kind, ())
    order = [name for name in declared if name in names]
    order += sorted(name for name in names if name not in order and name not in HEAD)
    return tuple(order)


def _order(kind: str, fields: dict):
    """``event_order`` of ``fields``, or True when it is their order already."""
    order = event_order(kind, fields)
    return True if order == tuple(fields) else order


def dumps(ev: dict) -> str:
    """One event as its JSON line (without the newline), deterministically.

    The event's own key order is kept when it starts with t, cpu, ev (as
    ``make_event`` builds it); otherwise it is normalised first.
    """
    keys = iter(ev)
    if next(keys, None) != "t" or next(keys, None) != "cpu" or next(keys, None) != "ev":
        fields = {k: v for k, v in ev.items() if k not in HEAD}
        ev = make_event(ev["ev"], ev["t"], ev["cpu"], fields)
    elif float in set(map(type, ev.values())):
        for k, v in ev.items():
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

    A write that fails (a full disk, /dev/full) does not stop the run: the
    writer keeps the first error in ``error``, writes nothing more, and
    ``close()`` raises that error (an OSError) once, after closing.
    """

    def __init__(self, target, clock=None) -> None:
        if isinstance(target, (str, bytes)) or hasattr(target, "__fspath__"):
            path = str(target)
            if path == "-":
                self._f = sys.stdout
                self._own = False
            elif path.endswith(".gz"):
                import gzip     # noqa: PLC0415 (.gz traces only: 1.5 M instructions a start)
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
        self.error: Optional[OSError] = None

    def write(self, ev: dict) -> None:
        if self.error is not None:
            return
        try:
            self._f.write(dumps(ev) + "\n")
        except BrokenPipeError:
            raise                         # stdout went away: the caller's status 141
        except OSError as e:
            self.error = e
            return
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
        try:
            if self._own:
                self._f.close()
            else:
                self._f.flush()
        except BrokenPipeError:
            raise
        except OSError as e:              # the file is closed all the same (io's close)
            self.error = self.error or e
        if self.error is not None:
            raise self.error

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def open_writer(path, clock=None) -> TraceWriter:
    """The writer ``python -m emulator run --trace FILE`` uses."""
    return TraceWriter(path, clock)


MAX_LINE = 1 << 20          # bytes in one trace line (a longer one is refused)


def _no_float(text: str):
    raise ValueError(f"{text[:20]} is not an integer (traces hold integers only)")


# ints keep the C fast path (a parse_int hook would cost a Python call each);
# Python's own limit refuses integers of more than 4300 digits (ValueError)
_scan = json.JSONDecoder(parse_float=_no_float, parse_constant=_no_float).scan_once


def _decode(line: str):
    """JSONDecoder.decode of a stripped line, straight to its C scanner (decode
    matched the whitespace around the value twice: a third of a line's cost)."""
    try:
        obj, end = _scan(line, 0)
    except StopIteration as err:
        raise json.JSONDecodeError("Expecting value", line, err.value) from None
    if end != len(line):        # where decode says it: after the blanks that follow
        raise json.JSONDecodeError("Extra data", line,
                                   len(line) - len(line[end:].lstrip(" \t\n\r")))
    return obj


def _open_binary(path: str):
    if path == "-":
        return sys.stdin.buffer
    try:
        f = open(path, "rb")
        magic = f.peek(2)[:2]
    except OSError as e:
        raise TraceError(f"{path}: cannot read trace: {e.strerror}") from None
    if magic == b"\x1f\x8b":
        f.close()
        import gzip         # noqa: PLC0415 (.gz traces only: 1.5 M instructions a start)
        return gzip.GzipFile(path, "rb")
    return f


def _lines(f, path: str) -> Iterator[bytes]:
    """The file's lines, each at most MAX_LINE bytes; gzip damage is a TraceError."""
    n = 0
    while True:
        n += 1
        try:
            line = f.readline(MAX_LINE + 1)
        except (EOFError, OSError, zlib.error) as e:
            what = "truncated" if isinstance(e, EOFError) else "corrupt"
            raise TraceError(f"{path}:{n}: {what} gzip data ({_one_line(e)})") from None
        if not line:
            return
        if len(line) > MAX_LINE:
            raise TraceError(f"{path}:{n}: a line longer than {MAX_LINE >> 20} MiB")
        yield line


def read_events(path) -> Iterator[dict]:
    """Yield the events of a trace file one by one (a generator).

    Anything that is not a good trace (a non-ASCII byte or a byte-order
    mark, a corrupt or truncated .gz, a value that is not an integer,
    string, boolean, null or flat list of those, an integer of thousands
    of digits, deep nesting, a line over 1 MiB) is a TraceError naming the
    line."""
    path = str(path)
    f = _open_binary(path)
    try:
        yield from parse_lines(_lines(f, path), path)
    finally:
        if f is not sys.stdin.buffer:
            f.close()


def parse_lines(lines: Iterable, name: str = "<trace>") -> Iterator[dict]:
    """Parse JSON Lines (str or ASCII bytes) into events, checking each one."""
    for n, line in enumerate(lines, 1):
        if isinstance(line, bytes):
            line = _ascii(line, name, n)
        elif not line.isascii():
            line = _ascii(line.encode("utf-8", "surrogateescape"), name, n)
        line = line.strip()
        if not line:
            continue
        try:
            ev = _decode(line)
        except RecursionError:
            raise TraceError(f"{name}:{n}: not a trace event (nested too deeply)") from None
        except ValueError as e:
            raise TraceError(f"{name}:{n}: not a JSON line ({_one_line(e)})") from None
        if ev.__class__ is not dict or "t" not in ev or "cpu" not in ev or "ev" not in ev:
            raise TraceError(f"{name}:{n}: an event needs t, cpu and ev")
        problem = _check_event(ev)
        if problem:
            raise TraceError(f"{name}:{n}: {problem}")
        yield ev


def _ascii(line: bytes, name: str, n: int) -> str:
    try:
        return line.decode("ascii")
    except UnicodeDecodeError as e:
        if n == 1 and line.startswith(b"\xef\xbb\xbf"):
            raise TraceError(f"{name}:1: starts with a byte-order mark (a trace is ASCII "
                             "JSON Lines)") from None
        raise TraceError(f"{name}:{n}: non-ASCII byte {line[e.start]:#04x} at column "
                         f"{e.start + 1} (a trace is ASCII JSON Lines)") from None


_SCALARS = frozenset((int, str, bool, type(None)))     # exact types json gives
_NONE = type(None)
_INT = (frozenset((int, _NONE)), "an integer or null")
_NAME = (frozenset((str, _NONE)), "a string or null")
# fields the tools compute with or key on (emulator/metrics.py, trace_cli,
# perfetto.py) and so must have their type; eip/esp/wchan/arg are left out:
# a symbolised trace holds them as "symbol+0xoff" strings
FIELD_TYPES = {
    **{k: _INT for k in ("line", "vector", "depth", "used", "size", "ipl", "held")},
    **{k: _NAME for k in ("rule", "owner", "lwp", "by", "ithread", "softint", "lock", "kind",
                          "path", "via", "how", "from", "stack", "message", "reason")},
}
SWITCH_KINDS = frozenset(("lwp.switch", "stack.switch"))   # their "to" is an owner name


def _check_event(ev: dict) -> str:
    """'' for an event of the trace's form, else what is wrong with it."""
    t, cpu, kind = ev["t"], ev["cpu"], ev["ev"]
    if type(t) is not int or t < 0:
        return f"t must be a non-negative integer, not {_shown(t)}"
    if type(cpu) is not int or cpu < 0:
        return f"cpu must be a non-negative integer, not {_shown(cpu)}"
    if type(kind) is not str or not kind:
        return f"ev must be a kind name, not {_shown(kind)}"
    scalars, typed = _SCALARS, FIELD_TYPES
    for k, v in ev.items():
        c = v.__class__
        want = typed.get(k)
        if want is not None:
            if c in want[0]:
                continue
            return f"field {k!r} must be {want[1]}, not {_shown(v)}"
        if c in scalars or (c is list and all(x.__class__ in scalars for x in v)):
            continue
        return (f"field {k!r} is {_shown(v) if c is not list else 'a nested list'} "
                "(values are integers, strings, booleans, null or lists of those)")
    if kind in SWITCH_KINDS and ev.get("to").__class__ not in _NAME[0]:
        return f"field 'to' of {kind} must be a string or null, not {_shown(ev.get('to'))}"
    return ""


def _shown(v) -> str:
    if isinstance(v, dict):
        return "an object"
    if isinstance(v, list):
        return "a list"
    text = json.dumps(v)
    return text if len(text) <= 40 else text[:37] + "..."


def _one_line(e: Exception) -> str:
    text = str(e).splitlines()[0] if str(e) else type(e).__name__
    return text[:160]


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
        self._hand(ev)
        return ev

    def _hand(self, ev: dict) -> None:
        """``consumer(ev)``; a ``Fanout``'s consumers called from here (one
        call less per event; its list is read each time: it changes)."""
        consumer = self.consumer
        if consumer.__class__ is Fanout:
            for c in consumer.consumers:
                c(ev)
        else:
            consumer(ev)

    def emit_fields(self, kind: str, cpu: int, fields: dict) -> Optional[dict]:
        """``emit(kind, cpu, **fields)`` for a ``fields`` dict already in
        serialisation order (``event_order``) and holding no float, as a
        kernel label's compiled reader builds it (emulator/observe/fields.py):
        the event is made without ``make_event``'s reordering."""
        if self.consumer is None or kind in self.drop:
            return None
        ev = {"t": self.clock.now, "cpu": cpu, "ev": kind}
        ev.update(fields)
        consumer = self.consumer
        if consumer.__class__ is Fanout:        # _hand, inline: most events come here
            for c in consumer.consumers:
                c(ev)
        else:
            consumer(ev)
        return ev

    def __call__(self, kind: str, **fields) -> Optional[dict]:
        cpu = fields.pop("cpu", 0)
        return self.emit(kind, cpu, **fields)
