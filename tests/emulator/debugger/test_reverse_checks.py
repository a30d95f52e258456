"""The observer and the checkers after reverse execution (issue 5's caveat).

Going back restores a machine snapshot and replays forward; the observer's
model and the rules' state go back with it (emulator/debugger/rewind.py), a
replayed violation is neither reported nor counted twice, and the trace is
the history of the furthest run, each line written once and in order.
"""

import io
import json
import random

import pytest

from emulator.debugger import open_debugger
from tests.emulator.debugger.conftest import drive

BUDGET = 2_000_000       # every scenario here exits well before this


@pytest.fixture(scope="module")
def kernels(tmp_path_factory):
    from guest_kernel.build import Config, build
    out = tmp_path_factory.mktemp("kernels")
    made = {}

    def get(bug=None, model="ithread"):
        key = (model, bug)
        if key not in made:
            made[key] = str(build(Config(model, "shared", "thread", bug), out / f"{model}-{bug}"))
        return made[key]
    return get


def session(elf, scenario, trace, every=20_000):
    report = io.StringIO()
    d = open_debugger(elf, append=f"scenario={scenario}", mem=32, max_run=BUDGET,
                      report=report, trace=str(trace), history_every=every)
    return d, report


def straight(elf, scenario, trace):
    """The reference: one continue to the guest's exit, nothing backwards."""
    d, report = session(elf, scenario, trace)
    out = drive(d, "c\n")
    d.close()
    assert "The guest exited with status 0." in out
    return d, report.getvalue()


def violations(d):
    return [(v.rule, v.t, v.message) for v in d.session.violations]


def lines(path):
    return path.read_text().splitlines()


def model_of(d):
    """What the observer and the checkers believe, comparably."""
    s = d.session
    st = s.checker.state
    return {"owner": dict(s.observer.owner),
            "frames": {k: list(v) for k, v in s.observer.frames.items() if v},
            "state": {k: (dict(v) if isinstance(v, dict) else v) for k, v in vars(st).items()},
            "rules": [vars(r) for r in s.checker.rules],
            "recent": list(s.events.events)}


def test_reverse_over_lock_operations_and_interrupts_ends_with_no_violations(kernels, tmp_path):
    elf = kernels()
    ref, _ = straight(elf, "biglock", tmp_path / "ref.jsonl")
    d, report = session(elf, "biglock", tmp_path / "rev.jsonl")
    # the scenario's end: kbd_raise makes the 8042 raise irq 1 (vector 0x21),
    # its interrupt thread pins main, takes the big lock, and the bottom half
    # takes kbd_stat and kbd_lock (the run's two mutex acquisitions: forward to
    # both, back to the first, rsi 60 back past it, forward again, back again);
    # then back to kbd_raise and forward into irq 1, one step back and into it again
    script = ["b obs_lock_acquire", "c", "c", "rc", "rsi 60", "c", "c", "rc", "delete",
              "b kbd_raise", "rc", "catch irq 1", "c", "rsi 1", "c", "delete",
              "run-for 100", "rsi 300000", "c", "checks"]
    out = drive(d, "\n".join(script) + "\n")
    d.close()
    kinds = {json.loads(x)["ev"] for x in lines(tmp_path / "ref.jsonl")}
    assert {"lock.acquire", "lock.release", "biglock.acquire", "biglock.release",
            "intr.enter", "intr.exit", "lwp.pin", "lwp.unpin", "lwp.switch"} <= kinds
    assert out.count("Breakpoint 1 (reverse), obs_lock_acquire") == 2
    assert out.count("Catchpoint 3 (irq 1, vector 0x21") == 2
    assert "The guest exited with status 0." in out
    assert out.splitlines()[-2] == "checks: 13 rules, 0 violations"
    assert report.getvalue() == ""
    assert violations(d) == []
    assert lines(tmp_path / "rev.jsonl") == lines(tmp_path / "ref.jsonl")


@pytest.mark.parametrize("t", [6_500, 150_000, 303_000])
def test_the_observer_model_after_going_back_is_the_model_of_a_run_straight_there(
        kernels, tmp_path, t):
    elf = kernels()
    there, _ = session(elf, "biglock", tmp_path / "a.jsonl")
    drive(there, f"run-for {t}\n")
    back, _ = session(elf, "biglock", tmp_path / "b.jsonl")
    drive(back, f"run-for 304000\nrsi {304000 - t}\n")
    assert back.t.now == there.t.now == t
    assert model_of(back) == model_of(there)


def test_a_violation_is_reported_once_when_the_debugger_goes_back_over_it(kernels, tmp_path):
    elf = kernels("resume_pinned")
    ref, ref_report = straight(elf, "ithread_block", tmp_path / "ref.jsonl")
    assert ref_report.count("pinned-run violated") == 1
    d, report = session(elf, "ithread_block", tmp_path / "rev.jsonl", every=2_000)
    out = drive(d, "catch violation\nc\ntime\nrsi 300\nc\nrsi 4000\nc\ndelete\n"
                   "c\nrsi 9000\nc\nchecks\n")
    d.close()
    # the catchpoint stops at the violation each time the run passes it ...
    assert out.count("Catchpoint 1 (violation pinned-run: lwp 4 runs while pinned by "
                     "ithread 3)") == 3
    # ... but it is reported and counted once, as in the straight run
    assert report.getvalue().count("pinned-run violated") == 1
    assert report.getvalue() == ref_report
    assert violations(d) == violations(ref)
    assert "checks: 13 rules, 2 violations" in out
    trace = lines(tmp_path / "rev.jsonl")
    assert trace == lines(tmp_path / "ref.jsonl")
    assert sum('"rule":"pinned-run"' in x for x in trace) == 1


def test_a_hand_change_behind_the_furthest_run_cuts_the_trace_there(kernels, tmp_path):
    elf = kernels()
    straight(elf, "ithread_block", tmp_path / "ref.jsonl")
    d, report = session(elf, "ithread_block", tmp_path / "fork.jsonl", every=2_000)
    out = drive(d, "run-for 7000\nrsi 3000\nirq pulse 3\nc\nchecks\n")
    d.close()
    assert "irq 3: pulse" in out and "checks: 13 rules, 0 violations" in out
    events = [json.loads(x) for x in lines(tmp_path / "fork.jsonl")]
    times = [e["t"] for e in events]
    assert times == sorted(times)                       # no line of the old future left
    raised = [e for e in events if e["ev"] == "irq.raise" and e["line"] == 3]
    assert [e["t"] for e in raised] == [4000]           # the hand-made event is written
    ref = lines(tmp_path / "ref.jsonl")
    before = [x for x in ref if json.loads(x)["t"] < 4000]
    assert lines(tmp_path / "fork.jsonl")[:len(before)] == before


def test_trace_tail_after_going_back_ends_at_now(kernels, tmp_path):
    elf = kernels()
    d, _ = session(elf, "ithread_block", tmp_path / "t.jsonl", every=2_000)
    drive(d, "run-for 8000\nrsi 2500\n")
    tail = d.session.events.tail()
    assert tail and tail[-1]["t"] <= d.t.now == 5500
    ref, _ = session(elf, "ithread_block", tmp_path / "r.jsonl", every=2_000)
    drive(ref, "run-for 5500\n")
    assert tail == ref.session.events.tail()


@pytest.mark.parametrize("bug,scenario,seed", [("resume_pinned", "ithread_block", 1),
                                               (None, "ithread_block", 2),
                                               ("biglock_leak", "biglock", 3)])
def test_any_walk_back_and_forth_gives_the_straight_runs_trace_and_violations(
        kernels, tmp_path, bug, scenario, seed):
    elf = kernels(bug)
    ref, ref_report = straight(elf, scenario, tmp_path / "ref.jsonl")
    end = ref.t.now
    rnd = random.Random(seed)
    labels = ["obs_lock_acquire", "obs_lock_release", "obs_lwp_switch", "obs_pin",
              "intr_call_handler", "obs_biglock_acquire"]
    cmds = []
    for _ in range(30):
        r = rnd.random()
        if r < 0.2:
            cmds.append(f"si {rnd.randint(1, 3000)}")
        elif r < 0.4:
            cmds.append(f"rsi {rnd.randint(1, end // 3)}")
        elif r < 0.5:
            cmds.append(f"b {rnd.choice(labels)}")
        elif r < 0.6:
            cmds.append("delete")
        elif r < 0.75:
            cmds.append("c")
        elif r < 0.9:
            cmds.append("rc")
        else:
            cmds.append(f"run-for {rnd.randint(1, end // 4)}")
    d, report = session(elf, scenario, tmp_path / "rev.jsonl", every=5_000)
    drive(d, "\n".join(cmds + ["delete", "c"]) + "\n")
    d.close()
    # a walk may step on past the guest's exit (the machine goes on): then
    # the furthest run is longer than the straight one, which is its prefix
    rev = lines(tmp_path / "rev.jsonl")
    ref_lines = lines(tmp_path / "ref.jsonl")
    assert rev[:len(ref_lines)] == ref_lines
    assert violations(d)[:len(violations(ref))] == violations(ref)
    assert report.getvalue().startswith(ref_report)
    if d.t.now == end:
        assert rev == ref_lines and report.getvalue() == ref_report


def test_running_forward_again_after_going_back_prints_the_guest_console_once(tmp_path):
    from tests.emulator.debugger.conftest import LOOP, build_loop
    printing = LOOP.replace("        add eax, 2\n", "        add eax, 2\n        out 0xe9, al\n")
    ref, _p = build_loop(tmp_path, text=printing, name="ref", every=100)
    once = []
    ref.m.console = once.append
    drive(ref, "si 500\n")
    d, _p = build_loop(tmp_path, text=printing, every=100)
    seen = []
    d.m.console = seen.append
    drive(d, "si 300\nrsi 250\nsi 200\nrsi 100\n")
    assert b"".join(seen) == b"".join(once)[:len(b"".join(seen))] and seen
    drive(d, "si 350\n")                      # to t=500: past the furthest run
    assert d.t.now == 500
    assert b"".join(seen) == b"".join(once)


def test_checker_state_saved_and_restored_replays_a_violation_without_counting_it_again():
    from emulator.checks import Checker, all_rules
    from tests.emulator.checks.test_rules import FakeCtx, acq, rel, sw
    emitted, reported = [], []
    ch = Checker(all_rules(), FakeCtx(),
                 emit=lambda kind, cpu, t, **f: emitted.append((kind, t, f.get("rule"))),
                 report=reported.append)
    again = [False]
    ch.replaying = lambda: again[0]
    ch(sw(1, None, "lwp 1"))
    ch(acq(10, "a", by="lwp 1"))
    saved = ch.save_state()
    stream = [rel(20, "a", by="lwp 1"), rel(30, "a", by="lwp 1")]    # a double release
    for ev in stream:
        ch(ev)
    assert [v.rule for v in ch.violations] == ["mutex-owner"] and len(reported) == 1
    assert "a" not in ch.state.owner_of
    ch.restore_state(saved)                       # back to t=10: a is held again
    assert ch.state.owner_of["a"] == "lwp 1" and ch.state.current == {0: "lwp 1"}
    again[0] = True                               # the same events, replayed
    for ev in stream:
        ch(ev)
    assert len(ch.violations) == 1 and len(reported) == 1
    assert [e for e in emitted if e[0] == "check.violation"] == \
        [("check.violation", 30, "mutex-owner")] * 2      # emitted both times
    ch.restore_state(saved)
    again[0] = False                              # a new history: reported anew
    for ev in stream:
        ch(ev)
    assert len(ch.violations) == 2 and len(reported) == 2


def test_bt_in_a_nested_interrupt_is_the_same_after_going_back_and_forth(tmp_path):
    import pathlib
    from tests.emulator.debugger.conftest import build_loop
    nested = (pathlib.Path(__file__).parent / "nested.S").read_text()
    d, _p = build_loop(tmp_path, text=nested, name="nested", every=5)
    first = drive(d, "b deep\nc\nbt\n")
    again = drive(d, "delete\nc\nrc\nrsi 40\nb deep\nc\nbt\n")
    bt = first[first.index("#0"):]
    assert "<int, vector 0x26>" in bt and "<int, vector 0x25>" in bt
    assert again[again.rindex("#0"):] == bt


def test_a_refused_inject_after_going_back_does_not_print_the_guest_console_again(tmp_path):
    from tests.emulator.debugger.conftest import LOOP, build_loop
    printing = LOOP.replace("        add eax, 2\n", "        add eax, 2\n        out 0xe9, al\n")
    d, _p = build_loop(tmp_path, text=printing, every=100)
    seen = []
    d.m.console = seen.append
    drive(d, "si 300\n")
    printed = len(seen)
    out = drive(d, "rsi 250\ninject nonsense\nsi 250\n")
    assert "error: inject nonsense" in out and d.t.now == 300
    assert len(seen) == printed                 # the machine was not changed: no new history


def test_high_water_sees_an_item_again_after_going_back_and_new_after_a_fork():
    from emulator.debugger.reverse import HighWater
    hw = HighWater()
    assert [hw.see(t) for t in (5, 5, 9)] == [True, True, True]
    saved = hw.place                            # (9, 1)
    hw.place = (5, 1)                           # back to the first item at t=5
    assert [hw.see(t) for t in (5, 9)] == [False, False] and not hw.behind()
    assert hw.see(12) and hw.place == hw.mark == (12, 1)
    hw.place = saved
    assert hw.behind()
    hw.fork()                                   # changed by hand at (9, 1)
    assert not hw.behind() and hw.see(12)       # the old future is new again
