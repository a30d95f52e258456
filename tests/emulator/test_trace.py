"""The trace's event model, writer and reader (emulator/trace.py)."""

import io
import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from emulator.clock import Clock
from emulator.trace import (Fanout, Recent, TraceError, TraceWriter, dumps,
                            format_event, make_event, open_writer, read_events)


def test_every_line_starts_with_t_cpu_ev_then_the_kinds_declared_fields():
    line = dumps(make_event("lock.acquire", 7, 0,
                            {"zzz": 1, "owner_running": True, "owner": "lwp 3", "lock": "m1"}))
    assert line == ('{"t":7,"cpu":0,"ev":"lock.acquire","lock":"m1","owner":"lwp 3",'
                    '"owner_running":true,"zzz":1}')


def test_field_order_does_not_depend_on_the_order_fields_were_given():
    a = dumps(make_event("stack.switch", 1, 0, {"to": "lwp 1", "from": "boot"}))
    b = dumps(make_event("stack.switch", 1, 0, {"from": "boot", "to": "lwp 1"}))
    assert a == b
    assert a.index('"from"') < a.index('"to"')


def test_a_float_field_is_refused_so_runs_stay_byte_identical():
    with pytest.raises(TypeError, match="float"):
        dumps(make_event("irq.raise", 1, 0, {"line": 1.5}))


JSON = st.recursive(st.none() | st.booleans() | st.integers(-2**70, 2**70) | st.text(max_size=8),
                    lambda inner: st.lists(inner, max_size=3)
                    | st.dictionaries(st.text(max_size=4), inner, max_size=3), max_leaves=8)


@settings(max_examples=500, deadline=None)
@given(st.dictionaries(st.text(max_size=6).filter(lambda k: k not in ("t", "cpu", "ev")),
                       JSON, max_size=5))
def test_a_line_is_what_json_dumps_gives_compact(fields):
    # the writer's encoder is made once (trace._dumps); its lines are the
    # standard library's, byte for byte
    ev = {"t": 3, "cpu": 0, "ev": "x.y", **fields}
    assert dumps(ev) == json.dumps(ev, separators=(",", ":"))


def test_a_field_json_cannot_hold_is_a_type_error_naming_its_type():
    with pytest.raises(TypeError, match="set is not JSON serializable"):
        dumps({"t": 1, "cpu": 0, "ev": "x", "a": {1}})


def test_a_dict_in_any_key_order_is_normalised_before_writing():
    assert dumps({"ev": "irq.raise", "line": 3, "cpu": 0, "t": 9}) == \
        '{"t":9,"cpu":0,"ev":"irq.raise","line":3}'


def test_writer_stamps_time_from_the_clock_and_reader_gives_events_back(tmp_path):
    clock = Clock()
    path = tmp_path / "t.jsonl"
    w = open_writer(path, clock)
    clock.now = 100
    w.emit("irq.raise", 0, line=4)
    w.emit("intr.enter", 0, t=105, vector=0x24, line=4)
    w.close()
    w.close()   # idempotent
    evs = list(read_events(path))
    assert evs == [{"t": 100, "cpu": 0, "ev": "irq.raise", "line": 4},
                   {"t": 105, "cpu": 0, "ev": "intr.enter", "vector": 36, "line": 4}]
    assert w.count == 2


def test_gzip_traces_are_written_and_read_transparently(tmp_path):
    path = tmp_path / "t.jsonl.gz"
    with TraceWriter(path) as w:
        w.emit("pic.mask", 0, t=1, line=2)
    assert path.read_bytes()[:2] == b"\x1f\x8b"
    assert list(read_events(path))[0]["line"] == 2


def test_a_malformed_line_is_reported_with_its_line_number(tmp_path):
    path = tmp_path / "bad.jsonl"
    path.write_text('{"t":1,"cpu":0,"ev":"x"}\n{oops\n')
    with pytest.raises(TraceError, match=r"bad.jsonl:2: not a JSON line"):
        list(read_events(path))


def test_an_event_without_its_head_keys_is_refused(tmp_path):
    path = tmp_path / "bad.jsonl"
    path.write_text('{"t":1,"ev":"x"}\n')
    with pytest.raises(TraceError, match="needs t, cpu and ev"):
        list(read_events(path))


def test_a_missing_trace_file_is_one_line_error(tmp_path):
    with pytest.raises(TraceError, match="cannot read trace"):
        list(read_events(tmp_path / "nope.jsonl"))


def test_recent_keeps_only_the_last_n_events():
    r = Recent(3)
    for i in range(10):
        r({"t": i, "cpu": 0, "ev": "x"})
    assert [e["t"] for e in r.tail()] == [7, 8, 9]
    assert [e["t"] for e in r.tail(2)] == [8, 9]


def test_fanout_hands_each_event_to_every_consumer_in_order():
    seen = []
    f = Fanout([lambda e: seen.append(("a", e["t"])), lambda e: seen.append(("b", e["t"]))])
    f({"t": 1, "cpu": 0, "ev": "x"})
    assert seen == [("a", 1), ("b", 1)]


def test_format_event_is_one_readable_line():
    s = format_event({"t": 5, "cpu": 1, "ev": "stack.switch", "from": "lwp 3",
                      "to": "ithread 1", "esp": 0x1000})
    assert s == "t=5 cpu1 stack.switch from='lwp 3' to='ithread 1' esp=0x1000"


def test_writer_to_a_file_object_does_not_close_it():
    buf = io.StringIO()
    w = TraceWriter(buf)
    w.emit("irq.lower", 0, t=3, line=1)
    w.close()
    assert json.loads(buf.getvalue()) == {"t": 3, "cpu": 0, "ev": "irq.lower", "line": 1}


def _reference_event(kind, t, cpu, fields):
    """make_event as it was written first, field by field (the twin the
    cached orders are checked against)."""
    from emulator.trace import KINDS
    ev = {"t": t, "cpu": cpu, "ev": kind}
    for name in KINDS.get(kind, ()):
        if name in fields:
            ev[name] = fields[name]
    for name in sorted(fields):
        if name not in ev:
            ev[name] = fields[name]
    return ev


def test_make_event_orders_every_shape_of_fields_as_field_by_field_ordering_does():
    from hypothesis import given, settings
    from hypothesis import strategies as st

    from emulator.trace import KINDS
    names = sorted({n for order in KINDS.values() for n in order} | {"zzz", "aaa", "t", "cpu"})
    kinds = st.sampled_from(sorted(KINDS) + ["no.such.kind"])
    values = st.one_of(st.integers(), st.text(max_size=3), st.booleans(), st.none())

    @settings(max_examples=300, deadline=None)
    @given(kinds, st.lists(st.tuples(st.sampled_from(names), values), max_size=8))
    def same(kind, pairs):
        fields = dict(pairs)
        ev = make_event(kind, 5, 1, fields)
        want = _reference_event(kind, 5, 1, fields)
        assert list(ev.items()) == list(want.items())
        # twice: the second time from the kept order
        assert list(make_event(kind, 5, 1, fields).items()) == list(want.items())
    same()


def test_emit_fields_makes_the_event_emit_makes_from_fields_in_the_trace_order():
    from emulator.trace import TraceSink, event_order
    clock = Clock()
    clock.now = 42
    got = []
    sink = TraceSink(clock, got.append)
    fields = {"by": "lwp 1", "zzz": 3, "lock": "m", "kind": "spin", "owner": None}
    ordered = {name: fields[name] for name in event_order("lock.acquire", fields)}
    sink.emit_fields("lock.acquire", 1, ordered)
    sink.emit("lock.acquire", 1, **fields)
    assert list(got[0].items()) == list(got[1].items())
    assert list(ordered) == ["lock", "owner", "kind", "by", "zzz"]


def test_emit_fields_drops_the_kinds_its_sink_drops():
    from emulator.trace import TraceSink
    got = []
    sink = TraceSink(Clock(), got.append, drop=("intr",))
    assert sink.emit_fields("intr", 0, {"vector": 3}) is None
    assert got == []
