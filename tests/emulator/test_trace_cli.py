"""``python -m emulator trace``: summary and diff (export: test_perfetto.py)."""

from emulator.trace import TraceWriter
from emulator.trace_cli import Summary, diff_events, main, percentiles


def E(t, ev, cpu=0, **f):
    return dict({"t": t, "cpu": cpu, "ev": ev}, **f)


def write(path, events):
    with TraceWriter(path) as w:
        for e in events:
            w.write(e)
    return str(path)


# ------------------------------------------------------------------ summary
def test_percentiles_use_nearest_rank_on_integers():
    assert percentiles([]) == (0, None, None, None)
    assert percentiles([5]) == (1, 5, 5, 5)
    vals = list(range(1, 101))
    assert percentiles(vals) == (100, 50, 99, 100)
    assert percentiles([3, 1, 2, 1000]) == (4, 2, 1000, 1000)


def summary_of(events):
    s = Summary()
    for e in events:
        s.add(e)
    return s.metrics.result()


def test_summary_measures_raise_to_start_and_end_per_line():
    r = summary_of([E(100, "irq.raise", line=0), E(110, "intr.enter", vector=32, line=0),
                    E(150, "intr.exit", vector=32, line=0),
                    E(200, "irq.raise", line=0), E(230, "intr.enter", vector=32, line=0),
                    E(300, "intr.exit", vector=32, line=0)])
    assert (r["latency_start"]["0"]["n"], r["latency_start"]["0"]["max"]) == (2, 30)
    assert (r["latency_end"]["0"]["median"], r["latency_end"]["0"]["max"]) == (50, 100)


def test_summary_ends_a_blocked_ithreads_episode_at_ithread_done():
    r = summary_of([E(0, "irq.raise", line=5), E(10, "intr.enter", vector=37, line=5),
                    E(12, "handler.enter", line=5, path="ithread"),
                    E(14, "lwp.pin", lwp="lwp 1", by="ithread 1"),
                    E(20, "pic.mask", line=5), E(30, "ithread.block", ithread="ithread 1", line=5),
                    E(40, "intr.exit", vector=37, line=5),
                    E(90, "ithread.done", ithread="ithread 1", line=5), E(95, "pic.unmask", line=5)])
    assert r["latency_end"]["5"]["max"] == 90
    assert r["masked"]["5"]["total"] == 75


def test_summary_prefers_handler_events_when_the_kernel_reports_them():
    r = summary_of([E(0, "irq.raise", line=4), E(5, "intr.enter", vector=36, line=4),
                    E(9, "intr.exit", vector=36, line=4), E(50, "handler.enter", line=4),
                    E(80, "handler.exit", line=4)])
    assert r["latency_start"]["4"]["max"] == 50 and r["latency_end"]["4"]["max"] == 80


def test_summary_command_prints_counts_latency_and_violations(tmp_path, capsys):
    path = write(tmp_path / "a.jsonl", [
        E(0, "irq.raise", line=0), E(7, "intr.enter", vector=32, line=0),
        E(20, "intr.exit", vector=32, line=0), E(30, "pic.mask", line=3),
        E(31, "check.violation", rule="lock-order", message="x")])
    assert main(["summary", path]) == 0
    out = capsys.readouterr().out
    assert "events: 5 over t=0..31, 1 cpu" in out
    assert "irq.raise" in out
    assert "line 0 raise -> handler start" in out and "      7" in out
    assert "line 0: 1 interrupts delivered" in out
    assert "line 3" not in out      # never raised: its masks are not shown
    assert "violations: 1" in out and "lock-order" in out


# --------------------------------------------------------------------- diff
def test_identical_traces_diff_clean(tmp_path, capsys):
    evs = [E(i, "irq.raise", line=i % 3) for i in range(50)]
    a, b = write(tmp_path / "a", evs), write(tmp_path / "b", evs)
    assert main(["diff", a, b]) == 0
    assert "identical (50 events)" in capsys.readouterr().out


def test_diff_shows_context_and_the_first_divergence_aligned():
    a = [E(i, "irq.raise", line=1) for i in range(10)] + [E(10, "pic.mask", line=1)] + \
        [E(11 + i, "irq.lower", line=1) for i in range(3)]
    b = [E(i, "irq.raise", line=1) for i in range(10)] + [E(10, "pic.mask", line=2)] + \
        [E(11 + i, "irq.lower", line=1) for i in range(3)]
    same, text = diff_events(a, b, context=3)
    assert not same
    assert "traces differ at event 11" in text
    assert "fields that differ: line" in text
    assert "last 3 events in common" in text
    assert "  - t=10 cpu0 pic.mask line=1" in text
    assert "  + t=10 cpu0 pic.mask line=2" in text
    assert "    t=11 cpu0 irq.lower line=1" in text   # re-aligned afterwards


def test_diff_names_a_pure_time_shift():
    same, text = diff_events([E(5, "irq.raise", line=0)], [E(9, "irq.raise", line=0)])
    assert not same and "same event, -4 instructions apart" in text


def test_diff_can_ignore_time():
    same, _ = diff_events([E(5, "irq.raise", line=0)], [E(9, "irq.raise", line=0)],
                          ignore=["t"])
    assert same


def test_diff_reports_a_trace_that_ends_early(tmp_path, capsys):
    a = write(tmp_path / "a", [E(1, "x"), E(2, "y")])
    b = write(tmp_path / "b", [E(1, "x")])
    assert main(["diff", a, b]) == 1
    assert "ends after 1 events" in capsys.readouterr().out


def test_diff_of_a_missing_file_is_a_one_line_error(tmp_path, capsys):
    assert main(["diff", str(tmp_path / "no"), str(tmp_path / "no2")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "cannot read trace" in err


def test_a_threaded_handler_episode_ends_when_its_thread_is_done():
    r = summary_of([E(0, "irq.raise", line=5), E(4, "handler.enter", line=5, path="threaded"),
                    E(6, "lwp.wakeup", lwp="ithread 2", by="lwp 1"),
                    E(9, "handler.exit", line=5, path="threaded"),
                    E(20, "lwp.switch", **{"from": "lwp 1", "to": "ithread 2"}),
                    E(70, "ithread.done", ithread="ithread 2", line=5)])
    assert r["latency_start"]["5"]["max"] == 20 and r["latency_end"]["5"]["max"] == 70
