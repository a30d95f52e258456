"""The observer on irqlab's kernel with several CPUs (smp_contend): each AP
comes up on its idle LWP's stack, the LWPs on the other CPUs say whether
the owner of the mutex they contend for was running on another CPU, and no
rule fires."""

import pytest

from emulator.trace import read_events
from guest_kernel.harness import run_config



@pytest.fixture(scope="module")
def contend(tmp_path_factory):
    trace = str(tmp_path_factory.mktemp("smp") / "t.jsonl")
    r = run_config("ithread", "smp_contend", trace_path=trace, cpus=4)
    return r, list(read_events(trace))


def test_smp_contend_on_four_cpus_runs_with_zero_violations(contend):
    r, _ = contend
    assert r.status == 0 and "PASS smp_contend" in r.stdout
    assert r.violations == [] and r.summary_line() == "checks: 13 rules, 0 violations"


def test_each_ap_comes_up_on_its_idle_lwps_stack(contend):
    _, evs = contend
    ups = [(e["cpu"], e["apic"], e["lwp"]) for e in evs if e["ev"] == "cpu.up"]
    assert ups == [(1, 1, "idle cpu1"), (2, 2, "idle cpu2"), (3, 3, "idle cpu3")]
    first = {}
    for e in evs:
        if e["ev"] == "stack.switch" and e["cpu"] not in first:
            first[e["cpu"]] = e["to"]
    assert [first[c] for c in (1, 2, 3)] == ["idle cpu1", "idle cpu2", "idle cpu3"]


def test_an_ap_contending_says_whether_the_owner_runs_and_spins_or_blocks_accordingly(contend):
    _, evs = contend
    mine = [e for e in evs if e["cpu"] > 0 and e["ev"].startswith("lock.")]
    contends = [e for e in mine if e["ev"] == "lock.contend"]
    assert {e["owner_running"] for e in contends} == {True, False}
    assert all(e["by"].startswith("lwp ") for e in contends)
    for i, e in enumerate(mine):
        if e["ev"] != "lock.contend":
            continue
        nxt = next(x for x in mine[i + 1:] if x["cpu"] == e["cpu"])
        assert nxt["ev"] == ("lock.spin" if e["owner_running"] else "lock.block"), (e, nxt)
        assert nxt["lock"] == e["lock"] and nxt["owner"] == e["owner"]


def test_every_event_is_stamped_with_a_cpu_that_exists(contend):
    _, evs = contend
    assert {e["cpu"] for e in evs} == {0, 1, 2, 3}


def test_a_cross_call_is_sent_by_one_cpu_and_run_by_its_target(tmp_path):
    trace = str(tmp_path / "t.jsonl")
    r = run_config("ithread", "smp_ipi", trace_path=trace, cpus=2)
    assert r.status == 0 and r.violations == []
    evs = list(read_events(trace))
    sends = [e for e in evs if e["ev"] == "ipi.send" and "func" in e]
    runs = [e for e in evs if e["ev"] == "xcall.run"]
    assert sends and runs
    for s in sends:
        # the next xcall.run after it is on the target CPU, running that function
        run = next(x for x in runs if x["t"] > s["t"])
        assert (run["cpu"], run["func"]) == (s["to"], s["func"])
