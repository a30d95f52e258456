"""The fast paths change nothing: every golden configuration and every
planted bug run on the fast path (the C block hook, the observer's quick
scan, backtraces worked out only when a report reads them) and on the full
Python path (the Python block hook, ``attach(reference=True)``) give the
same status, console, report text and trace bytes.

The goldens pin the fast path's whole runs; here every configuration runs
its first ``BUDGET`` instructions both ways (boot, the scenario's start: a
whole run on the Python hook costs seconds), the planted bugs whole (their
reports carry backtraces), the two long ones (soak, nested) to
``LONG_BUDGET``.  A planted bug's fast run is the session's shared one
(tests/runs.py), which tests/golden/test_bugs_caught.py reads the report of;
``long_handler``'s 12 M-instruction busy wait (30 s on the Python path)
runs both ways with the spin-out bound at 1 M instead, cut 1 M after it.
"""

from __future__ import annotations

import pytest

from guest_kernel.bugs import BUGS
from guest_kernel.harness import run_config
from tests.emulator.test_native import require_native
from tests.golden import golden

BUDGET = 400_000
LONG_BUDGET = 1_000_000
LONG = ("soak", "nested")
CUT = {"long_handler": ({"spinout": 1_000_000}, 2_000_000)}    # (limits, budget)


def both_ways(tmp_path, model, scenario, fast=None, **kw) -> dict:
    """The run's (status, console, report, trace bytes, instructions) on each
    path; ``fast``: the fast path's run, already made (a KernelRun)."""
    runs = {}
    for way in ("fast", "reference"):
        r = fast if way == "fast" and fast is not None else None
        if r is None:
            r = run_config(model, scenario, trace_path=str(tmp_path / f"{way}.jsonl"),
                           native=way == "fast", reference=way == "reference", **kw)
        with open(r.trace_path, "rb") as f:
            runs[way] = (r.status, r.stdout, r.stderr, f.read(), r.instructions)
    return runs


@pytest.mark.parametrize("config", [golden.key(*c) for c in golden.matrix()])
def test_the_fast_and_the_full_python_path_give_the_same_run(config, tmp_path):
    require_native()
    model, scenario, cpus = golden.parse_key(config)
    runs = both_ways(tmp_path, model, scenario, cpus=cpus, max_instructions=BUDGET)
    assert runs["fast"][3].count(b"\n") > 20       # the kernel booted and was observed
    assert runs["fast"] == runs["reference"]


@pytest.mark.parametrize("name", list(BUGS))
def test_a_planted_bug_is_reported_the_same_on_both_paths(name, tmp_path, checked_run):
    require_native()
    bug = BUGS[name]
    limits, cut = CUT.get(name, (None, None))
    budget = cut or (LONG_BUDGET if bug.scenario in LONG else 200_000_000)
    shared = None if limits else checked_run(bug.model, bug.scenario, name, bug.cpus, budget)
    runs = both_ways(tmp_path, bug.model, bug.scenario, bug=name, cpus=bug.cpus,
                     max_instructions=budget, fast=shared, limits=limits)
    if bug.explore:                 # a race its scenario's own run never hits
        assert runs["fast"][0] == 0 and "0 violations" in runs["fast"][2]
        assert f"PASS {bug.scenario}" in runs["fast"][1]
    elif budget != LONG_BUDGET:
        assert runs["fast"][0] == 120 and f"checks: {bug.rule} violated" in runs["fast"][2]
    assert runs["fast"] == runs["reference"]
