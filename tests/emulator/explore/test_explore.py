"""Exploring the kernel: the planted races are found, a branch is what its
reproduce command runs, and the report is the same bytes however it ran.

Windows (``--between``) keep each test to a few dozen branches; make
check-bugs explores the planted races over whole runs.
"""

from __future__ import annotations

import io

import pytest

from guest_kernel.harness import kernel_image, run_config
from emulator.explore import Plan, Window, explore
from guest_kernel.bugs import BUGS
from guest_kernel.explore import target_for


RACES = sorted(name for name, b in BUGS.items() if b.explore)
# the code each race lives in (tests only: check-bugs is not told where)
WHERE = {"softint_unlocked": ("softint_thread", "softint_fast_dispatch"),
         "ring_publish_early": ("ring_put", "ring_get"),
         "tx_count_no_ipl": ("td_tx_post", "td_tx_send")}


def _window(bug: str) -> Window:
    from asm.symfile import load_symbols
    b = BUGS[bug]
    syms = load_symbols(kernel_image(b.model, bug))
    lo, hi = WHERE[bug]
    return Window(lo=syms.addr(lo), hi=syms.addr(hi))


def test_the_three_races_are_the_ones_marked_for_explore():
    assert RACES == sorted(WHERE)


@pytest.mark.parametrize("bug", RACES)
def test_a_race_for_explore_passes_its_own_scenario_with_no_violation(bug):
    b = BUGS[bug]
    r = run_config(b.model, b.scenario, bug=bug)
    assert (r.status, r.violations) == (0, []), r.stderr
    assert f"PASS {b.scenario}" in r.stdout


@pytest.mark.parametrize("bug", RACES)
def test_explore_finds_each_race_with_the_rule_it_targets(bug):
    b = BUGS[bug]
    result = explore(target_for(b.model, b.scenario, bug, b.line), Plan(window=_window(bug)),
                     jobs=1)
    assert b.rule in {d.finding.rule for d in result.distinct}, result.text()
    assert result.status == 120


def test_a_branch_finds_what_its_reproduce_command_runs():
    from emulator.loader import image_symbols
    from emulator.machine import Machine
    from emulator.observe import attach
    from guest_kernel.catalog import injection_specs, kernel_cmdline
    bug = "softint_unlocked"
    b = BUGS[bug]
    target = target_for(b.model, b.scenario, bug, b.line)
    result = explore(target, Plan(window=_window(bug)), jobs=1)
    first = result.distinct[0]
    cmd = result.command(first.first)
    assert cmd.startswith("python -m guest_kernel run --model classic --scenario biglock "
                          "--bug softint_unlocked --inject key=28,at=")
    # the same run in this process: the scenario's injections, then the branch's
    m = Machine.from_image(kernel_image(b.model, bug), append=kernel_cmdline(b.scenario))
    m.symbols = image_symbols(kernel_image(b.model, bug))
    m.console = lambda data: None
    for spec in injection_specs(b.scenario) + [target.spec(t) for t in first.first]:
        m.inject(spec)
    session = attach(m, report=io.StringIO())
    r = m.run(result.target.limit)
    session.finish()
    found = {d.finding.rule for d in result.distinct if first.first == d.first} - {"guest"}
    assert {v.rule for v in session.violations} == found
    assert r.reason == "budget"                 # the branch's hang, too


def test_a_clock_tick_inside_setrunnable_no_longer_loses_the_new_lwp():
    # ithread_block hung on every model: main started its holder with IF=1
    # and a tick inside the run-queue update lost it (found by explore)
    from asm.symfile import load_symbols
    syms = load_symbols(kernel_image("ithread"))
    window = Window(lo=syms.addr("setrunnable"), hi=syms.addr("runq_remove"))
    result = explore(target_for("ithread", "ithread_block", None, "irq=0"),
                     Plan(window=window), jobs=1)
    assert result.branches > 0 and result.distinct == []


def test_the_report_is_the_same_bytes_for_one_job_two_jobs_and_a_dask_cluster():
    from distributed import LocalCluster
    bug = "softint_unlocked"
    b = BUGS[bug]
    target = target_for(b.model, b.scenario, bug, b.line)
    plan = Plan(window=_window(bug))
    one = explore(target, plan, jobs=1)
    two = explore(target, plan, jobs=2)
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                      dashboard_address=None) as cluster:
        dask = explore(target, plan, scheduler=cluster.scheduler_address)
    assert one.distinct and one.branches >= 4
    assert one.text() == two.text() == dask.text()
    assert one.json() == two.json() == dask.json()


def test_max_branches_keeps_the_first_classes_only():
    bug = "ring_publish_early"
    b = BUGS[bug]
    result = explore(target_for(b.model, b.scenario, bug, b.line), Plan(), jobs=1,
                     max_branches=3)
    assert result.branches == 3 and result.points > 3
    assert result.text().endswith(f"explore: {result.points} points, 3 branches, "
                                  f"{len(result.distinct)} distinct violations\n")
