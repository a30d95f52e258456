"""``trace export --perfetto`` (emulator/perfetto.py): valid Chrome trace-event
JSON that shows every mechanism, linear in its input, never destroying it."""

import io
import json
import os

import pytest

from emulator.perfetto import export
from emulator.trace import TraceWriter
from emulator.trace_cli import main

GOLDEN = os.path.join(os.path.dirname(__file__), "..", "golden")


def E(t, ev, cpu=0, **f):
    return dict({"t": t, "cpu": cpu, "ev": ev}, **f)


def SW(t, old, new, cpu=0):
    return E(t, "lwp.switch", cpu, **{"from": old, "to": new})


def write(path, events):
    with TraceWriter(str(path)) as w:
        for e in events:
            w.write(e)
    return str(path)


def validate_chrome_trace(doc):
    """The trace-event format as Perfetto's JSON importer reads it: known
    phases, ints for pid/tid, names present, timestamps that never go back
    on a track, B/E balanced and nested per track, flow steps after their
    start.  Returns the records."""
    assert isinstance(doc, dict) and isinstance(doc["traceEvents"], list)
    stacks, last_ts, flows = {}, {}, set()
    for rec in doc["traceEvents"]:
        assert rec["ph"] in {"B", "E", "i", "M", "C", "s", "t", "f"}, rec
        assert isinstance(rec["pid"], int), rec
        assert isinstance(rec["name"], str) and rec["name"], rec
        if rec["ph"] == "M":
            assert rec["name"] in {"process_name", "thread_name"}
            assert isinstance(rec["args"]["name"], str) and rec["args"]["name"]
            continue
        assert isinstance(rec["ts"], (int, float)) and rec["ts"] >= 0, rec
        if rec["ph"] == "C":
            track = (rec["pid"], "C", rec["name"])
            assert all(isinstance(v, int) for v in rec["args"].values()), rec
        else:
            assert isinstance(rec["tid"], int), rec
            track = (rec["pid"], rec["tid"])
        assert rec["ts"] >= last_ts.get(track, 0), f"time goes backwards on {track}: {rec}"
        last_ts[track] = rec["ts"]
        if rec["ph"] == "B":
            stacks.setdefault(track, []).append(rec["name"])
        elif rec["ph"] == "E":
            assert stacks.get(track), f"E without B on {track}: {rec}"
            assert stacks[track].pop() == rec["name"], f"slices do not nest: {rec}"
        elif rec["ph"] == "i":
            assert rec["s"] in {"g", "p", "t"}
        elif rec["ph"] == "s":
            assert rec["id"] not in flows, "flow started twice"
            flows.add(rec["id"])
        elif rec["ph"] in "tf":
            assert rec["id"] in flows, f"flow step before its start: {rec}"
    assert all(not s for s in stacks.values()), f"unclosed slices: {stacks}"
    return doc["traceEvents"]


def exported(events):
    buf = io.StringIO()
    export(iter(events), buf)
    return validate_chrome_trace(json.loads(buf.getvalue()))


def names_on(recs, pid, tid_name):
    tids = {r["tid"] for r in recs if r["ph"] == "M" and r["pid"] == pid
            and r["args"]["name"] == tid_name}
    return [r["name"] for r in recs if r["ph"] == "B" and r["pid"] == pid and r["tid"] in tids]


def every_mechanism():
    """Boot, then IRQ 5 on an ithread that borrows lwp 1, blocks on td_lock
    and finishes as a thread; a classic clock interrupt with a soft
    interrupt; the big lock and an AP taking it."""
    return [E(1, "stack.switch", **{"from": None, "to": "boot"}),
            E(5, "pic.mask", line=5), E(6, "pic.unmask", line=5),
            E(10, "stack.switch", **{"from": "boot", "to": "lwp 0"}),
            E(20, "cpu.ipl", ipl=0),
            SW(50, "lwp 0", "lwp 1"),
            E(60, "lock.acquire", lock="td_lock", by="lwp 1"),
            E(100, "irq.raise", line=5),
            E(105, "intr.enter", vector=37, line=5, kind="irq", owner="lwp 1"),
            E(110, "pic.hold", line=5), E(112, "pic.mask", line=5),
            E(120, "handler.enter", line=5, by="lwp 1", path="ithread"),
            E(130, "lwp.pin", lwp="lwp 1", by="ithread 2"),
            E(150, "lock.contend", lock="td_lock", owner="lwp 1", by="ithread 2"),
            E(160, "ithread.block", ithread="ithread 2", line=5, lock="td_lock", lwp="lwp 1"),
            E(165, "lock.block", lock="td_lock", owner="lwp 1", by="ithread 2"),
            E(170, "lwp.unpin", lwp="lwp 1", by="ithread 2", how="block"),
            SW(175, "ithread 2", "lwp 1"),
            E(200, "handler.exit", line=5, by="lwp 1", path="ithread"),
            E(210, "intr.exit", vector=37, line=5, owner="lwp 1"),
            E(220, "irq.raise", line=0),
            E(230, "intr.enter", vector=32, line=0, kind="irq", owner="lwp 1"),
            E(235, "cpu.ipl", ipl=6),
            E(240, "handler.enter", line=0, by="lwp 1", path="intr"),
            E(250, "softint.schedule", softint="clock-soft", by="lwp 1"),
            E(260, "handler.exit", line=0, by="lwp 1", path="intr"),
            E(265, "cpu.ipl", ipl=0),
            E(270, "intr.exit", vector=32, line=0, owner="lwp 1"),
            E(300, "lock.release", lock="td_lock", by="lwp 1"),
            SW(310, "lwp 1", "ithread 2"),
            E(320, "lock.acquire", lock="td_lock", by="ithread 2"),
            E(325, "stack.switch", 1, **{"from": None, "to": "ap cpu1"}),
            E(330, "biglock.acquire", depth=1, lwp="ithread 2"),
            E(340, "biglock.contend", 1, lwp="ap cpu1"),
            E(350, "biglock.release", depth=0, lwp="ithread 2"),
            E(360, "biglock.acquire", 1, depth=1, lwp="ap cpu1"),
            E(365, "intr.enter", 1, vector=0xc0, line=None, kind="irq", owner="ap cpu1"),
            E(370, "xcall.run", 1, func="f", arg=0, by="ap cpu1"),
            E(375, "intr.exit", 1, vector=0xc0, line=None, owner="ap cpu1"),
            E(380, "biglock.release", 1, depth=0, lwp="ap cpu1"),
            E(390, "lock.release", lock="td_lock", by="ithread 2"),
            E(400, "ithread.done", ithread="ithread 2", line=5),
            E(402, "pic.release", line=5, held=0), E(404, "pic.unmask", line=5),
            E(420, "ithread.pool", ithread="ithread 2"),
            SW(430, "ithread 2", "softint 3"),
            E(440, "softint.run", softint="clock-soft", by="softint 3"),
            E(480, "lwp.sleep", lwp="softint 3", wchan=9),
            SW(490, "softint 3", "lwp 1"),
            E(500, "check.violation", rule="stack-bounds", message="m")]


def test_the_export_of_every_mechanism_is_valid_trace_event_json():
    exported(every_mechanism())


def test_borrowing_is_its_own_slice_on_the_borrowed_lwps_track():
    recs = exported(every_mechanism())
    lwp1 = names_on(recs, 2, "lwp 1")
    assert "borrowed by ithread 2" in lwp1
    # the frame it was borrowed in stays drawn inside the borrowed slice
    i = lwp1.index("borrowed by ithread 2")
    assert lwp1[i + 1:i + 3] == ["irq 5", "handler 5 (ithread stub)"]
    # and on the CPU, the ithread's run nests in lwp 1's frame
    cpu0 = names_on(recs, 1, "cpu0")
    assert cpu0.index("ithread 2") > cpu0.index("handler 5 (ithread stub)")
    assert "ithread work, line 5" in cpu0


def test_handlers_soft_interrupts_and_locks_have_slices():
    recs = exported(every_mechanism())
    cpu0 = names_on(recs, 1, "cpu0")
    assert {"handler 0", "softint clock-soft", "irq 0"} <= set(cpu0)
    assert {"hold td_lock", "wait td_lock", "hold big lock"} <= \
        set(names_on(recs, 2, "ithread 2 locks"))
    assert {"wait big lock", "hold big lock"} <= set(names_on(recs, 2, "ap cpu1 locks"))


def test_tracks_exist_before_the_first_context_switch_and_aps_have_everything():
    recs = exported(every_mechanism())
    cpu0 = [r for r in recs if r["ph"] == "B" and r["pid"] == 1 and r["tid"] == 0]
    assert (cpu0[0]["name"], cpu0[0]["ts"]) == ("boot", 0.001)
    assert cpu0[1]["name"] == "lwp 0"
    cpu1 = names_on(recs, 1, "cpu1")
    assert cpu1[:2] == ["ap cpu1", "irq 192"]
    assert any(r["ph"] == "i" and r["tid"] == 1 and r["name"] == "xcall.run" for r in recs)


def test_masked_lines_and_ipl_are_counters_not_instants():
    recs = exported(every_mechanism())
    masked = [r["args"]["value"] for r in recs if r["ph"] == "C" and r["name"] == "line 5 masked"]
    assert masked == [1, 0, 1, 0]
    assert [r["args"]["value"] for r in recs if r["ph"] == "C" and r["name"] == "cpu0 IPL"] \
        == [0, 6, 0]
    held = [r["args"]["value"] for r in recs if r["ph"] == "C" and r["name"] == "line 5 held"]
    assert held == [1, 0]
    assert not any(r["ph"] == "i" and r["name"].startswith("pic.") for r in recs)


def test_each_episode_is_an_arrow_from_raise_to_handler_to_work_done():
    recs = exported(every_mechanism())
    flows = [(r["ph"], r["pid"], r["ts"]) for r in recs if r.get("cat") == "flow"
             and r["name"] == "irq 5"]
    # raised at 100 (line track), delivered at 105, the ithread borrows at
    # 130, its work is done at ithread.done (400), all on cpu0's track
    assert flows == [("s", 3, 0.1), ("t", 1, 0.105), ("t", 1, 0.13), ("f", 1, 0.4)]
    soft = [(r["ph"], r["ts"]) for r in recs if r.get("cat") == "flow" and r["name"] == "irq 0"]
    # the clock's work is done when the soft interrupt it scheduled finishes
    assert soft == [("s", 0.22), ("t", 0.23), ("t", 0.24), ("f", 0.48)]


def test_a_frame_resumes_on_its_lwps_track_after_a_switch():
    recs = exported([SW(0, "boot", "lwp 1"),
                     E(1010, "intr.enter", vector=32, line=0, owner="lwp 1"),
                     SW(1500, "lwp 1", "lwp 2"), SW(3000, "lwp 2", "lwp 1"),
                     E(3100, "intr.exit", vector=32, line=0, owner="lwp 1")])
    tid = next(r["tid"] for r in recs if r["ph"] == "M" and r["args"]["name"] == "lwp 1")
    irq0 = [(r["ph"], r["ts"]) for r in recs if r["pid"] == 2 and r["tid"] == tid
            and r["name"] == "irq 0" and r["ph"] in "BE"]
    assert irq0 == [("B", 1.01), ("E", 1.5), ("B", 3), ("E", 3.1)]


def unclosed(n):
    """n frames that never close, switched in and out: the 9.4 GB case."""
    evs = [SW(0, None, "lwp 1")]
    t = 1
    for i in range(n):
        evs.append(E(t, "intr.enter", vector=32 + i % 16, line=i % 16, owner="lwp 1"))
        evs.append(SW(t + 1, "lwp 1", "lwp 2"))
        evs.append(SW(t + 2, "lwp 2", "lwp 1"))
        t += 3
    return evs


def test_output_stays_linear_in_the_input_when_frames_never_close(tmp_path):
    sizes = []
    for n in (300, 1200):
        src = write(tmp_path / f"u{n}.jsonl", unclosed(n))
        out = tmp_path / f"u{n}.json"
        assert main(["export", "--perfetto", src, str(out)]) == 0
        validate_chrome_trace(json.loads(out.read_text()))
        sizes.append(out.stat().st_size / os.path.getsize(src))
    # the same bytes out per byte in, however long the trace (the old
    # exporter re-emitted every open frame at each switch: quadratic)
    assert sizes[1] < sizes[0] * 1.1 and sizes[1] < 40


def test_exporting_onto_the_input_is_refused_and_the_input_kept(tmp_path, capsys):
    src = write(tmp_path / "t.jsonl", every_mechanism())
    before = open(src, "rb").read()
    assert main(["export", "--perfetto", src, src]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "is the input trace" in err
    assert open(src, "rb").read() == before
    os.link(src, tmp_path / "hard.jsonl")          # the same file by another name
    assert main(["export", "--perfetto", src, str(tmp_path / "hard.jsonl")]) == 2
    assert open(src, "rb").read() == before


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full")
def test_exporting_to_a_full_device_is_one_line_not_a_traceback(tmp_path, capsys):
    src = write(tmp_path / "t.jsonl", every_mechanism() * 1)
    assert main(["export", "--perfetto", src, "/dev/full"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "cannot write" in err and "Traceback" not in err


@pytest.mark.parametrize("key,must", [
    ("ithread/ithread_block", {"borrowed by ithread 3", "ithread work, line 1"}),
    ("classic/nested", {"handler 5", "irq 0"}),
    ("cpus2/classic/smp_biglock", {"ap cpu1"}),
])
def test_real_traces_export_valid_with_their_mechanisms(key, must):
    from emulator.trace import read_events
    recs = exported(read_events(os.path.join(GOLDEN, key + ".jsonl.gz")))
    names = {r["name"] for r in recs if r["ph"] == "B"}
    assert must <= names, must - names
