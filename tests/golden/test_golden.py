"""Guest traces against their goldens (make bless rewrites them, nothing else).

Each blessed (model, scenario, CPU count) is rerun; its trace, symbolised
as the goldens are, must equal the golden; a mismatch fails with the output
of ``trace diff``.  Every correct configuration must run with zero violations.
Running the same scenario twice gives identical traces.  The run is the
session's shared one (tests/runs.py): tests/guest_kernel/test_irqlab.py
asserts on the same runs that each scenario passes.
"""

import os

import pytest

from emulator.trace import read_events
from emulator.trace_cli import diff_events
from guest_kernel.harness import run_config
from tests.golden import golden

INDEX = golden.load_index()


def blessed():
    return sorted(INDEX) or ["(none blessed)"]


@pytest.mark.parametrize("pair", blessed())
def test_scenario_trace_matches_its_golden_with_zero_violations(pair, checked_run):
    if pair not in INDEX:
        pytest.skip("no goldens yet: run make bless")
    model, scenario, cpus = golden.parse_key(pair)
    r = checked_run(model, scenario, cpus=cpus, max_instructions=golden.budget(scenario, cpus))
    trace = r.trace_path
    assert r.violations == [], r.stderr
    assert r.summary_line() == "checks: 13 rules, 0 violations", r.stderr
    assert r.status == INDEX[pair]["status"], r.stdout[-500:]
    # what the kernel printed (tests/guest_kernel/test_smp.py holds QEMU's
    # console to the same text)
    assert r.stdout == INDEX[pair]["console"]
    form = INDEX[pair]["form"]
    same, text = diff_events(golden.golden_events(model, scenario, cpus),
                             golden.form_events(read_events(trace), form,
                                                golden.symbolizer(model)),
                             names=(f"golden {pair}", "this run"))
    if not same:
        pytest.fail(f"{pair} differs from its golden (make bless if intended):\n{text}",
                    pytrace=False)


def test_every_pair_the_kernel_runs_has_a_golden():
    if not INDEX:
        pytest.skip("no goldens yet: run make bless")
    missing = [golden.key(*c) for c in golden.matrix() if golden.key(*c) not in INDEX]
    assert missing == []
    for pair in INDEX:
        assert os.path.exists(golden.path(*golden.parse_key(pair))), pair


def test_an_smp_run_twice_gives_identical_traces(tmp_path):
    a, b = str(tmp_path / "a.jsonl"), str(tmp_path / "b.jsonl")
    ra = run_config("ithread", "smp_contend", trace_path=a, cpus=2)
    rb = run_config("ithread", "smp_contend", trace_path=b, cpus=2)
    assert ra.status == rb.status == 0 and ra.stdout == rb.stdout
    with open(a, "rb") as fa, open(b, "rb") as fb:
        data = fa.read()
        assert data == fb.read()
    assert b'"cpu":1,"ev":"lock.contend"' in data


def test_the_same_scenario_twice_gives_identical_traces(tmp_path):
    a, b = str(tmp_path / "a.jsonl"), str(tmp_path / "b.jsonl")
    ra = run_config("ithread", "ithread_block", trace_path=a)
    rb = run_config("ithread", "ithread_block", trace_path=b)
    assert ra.status == rb.status and ra.stdout == rb.stdout
    with open(a, "rb") as fa, open(b, "rb") as fb:
        assert fa.read() == fb.read()
