"""The kernel on irqlab: every scenario passes under every model, hello and
preempt print exactly what they print on QEMU, runs repeat instruction for
instruction, and every --bug kernel boots and finishes its scenario.
All runs are bounded by an instruction budget.

A scenario's run and a bug kernel's run are the session's checked runs
(tests/runs.py), which the goldens (tests/golden/test_golden.py) and the
bug reports (tests/golden/test_bugs_caught.py) assert on too: each is made
once.  They run with a larger budget than ``BUDGET``, so a test asserts that
its run ended within ``BUDGET`` instructions.  A checked run retires the
same instructions as an unchecked one (tests/emulator/test_bench.py)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from emulator.machine import Machine
from guest_kernel.bugs import BUGS
from guest_kernel.catalog import MODELS, ONE_CPU_MODELS, scenarios_for
from guest_kernel.harness import injections
from tests.qemu import run_qemu

# hybrid's scenarios on one CPU run (and pass) as its goldens (tests/golden)
MODELS = tuple(m for m in MODELS if m not in ONE_CPU_MODELS)
SCENARIOS = scenarios_for(1)
BUDGET = 60_000_000


def run_irqlab(elf, scenario, budget=BUDGET):
    """(console text, exit status, instructions retired)"""
    m = Machine.from_image(elf, append=f"scenario={scenario}")
    out = []
    m.console = out.append
    args = injections(scenario)
    for spec in args[1::2]:
        m.inject(spec)
    r = m.run(max_instructions=budget)
    return b"".join(out).decode("latin-1"), r.status, m.clock.now


@pytest.mark.parametrize("model", MODELS)
@pytest.mark.parametrize("scenario", SCENARIOS)
def test_scenario_passes_on_irqlab(checked_run, model, scenario):
    r = checked_run(model, scenario)
    assert f"PASS {scenario}\n" in r.stdout, r.stdout
    assert r.status == 0, r.stderr              # the guest's 0, and no rule fired
    assert r.instructions <= BUDGET
    if scenario == "soak":
        assert r.instructions >= 20_000_000     # the soak lasts 20 M instructions at least
    if scenario == "storm":
        assert "storm: received 10000, device overflows 0\n" in r.stdout


@pytest.mark.parametrize("model", MODELS)
@pytest.mark.parametrize("scenario", ["hello", "preempt"])
def test_qemu_and_irqlab_print_the_same(kernel, checked_run, model, scenario):
    r = checked_run(model, scenario)
    q = run_qemu(kernel(model), append=f"scenario={scenario}")
    assert r.stdout == q.console
    assert r.status == q.status == 0
    assert r.instructions <= BUDGET


@pytest.mark.parametrize("options", [dict(intr_stack="separate"), dict(softint="fast")],
                         ids=lambda o: "-".join(f"{k}={v}" for k, v in o.items()))
@pytest.mark.parametrize("model", MODELS)
@pytest.mark.parametrize("scenario", ["ithread_block", "biglock"])
def test_options_pass_on_irqlab(kernel, model, options, scenario):
    console, status, _ = run_irqlab(kernel(model, **options), scenario)
    assert f"PASS {scenario}\n" in console, console


def test_a_run_repeats_instruction_for_instruction(kernel):
    a = run_irqlab(kernel("ithread"), "ithread_block")
    b = run_irqlab(kernel("ithread"), "ithread_block")
    assert a == b


@pytest.mark.parametrize("bug", sorted(BUGS))
def test_bug_kernel_boots_and_finishes_on_irqlab(checked_run, bug):
    spec = BUGS[bug]
    r = checked_run(spec.model, spec.scenario, bug=bug, cpus=spec.cpus)
    assert f"PASS {spec.scenario}" in r.stdout, r.stdout
    assert r.instructions <= BUDGET


def test_the_run_command_passes_the_guest_status_through(tmp_path):
    r = subprocess.run([sys.executable, "-m", "guest_kernel", "run", "--model", "classic",
                        "--scenario", "hello", "--build-dir", str(tmp_path),
                        "--max-instructions", str(BUDGET)],
                       capture_output=True, text=True)
    assert "PASS hello" in r.stdout
    assert (tmp_path / "classic" / "kernel.elf").exists()
    assert r.returncode in (0, 120)     # 120: a checker fired (reported, not the guest)
