"""The kernel on irqlab: every scenario passes under every model, hello and
preempt print exactly what they print on QEMU, runs repeat instruction for
instruction, and every --bug kernel boots and finishes its scenario.
All runs are bounded by an instruction budget."""

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
def test_scenario_passes_on_irqlab(kernel, model, scenario):
    console, status, now = run_irqlab(kernel(model), scenario)
    assert f"PASS {scenario}\n" in console, console
    assert status == 0
    if scenario == "soak":
        assert now >= 20_000_000            # the soak lasts 20 M instructions at least
    if scenario == "storm":
        assert "storm: received 10000, device overflows 0\n" in console


@pytest.mark.parametrize("model", MODELS)
@pytest.mark.parametrize("scenario", ["hello", "preempt"])
def test_qemu_and_irqlab_print_the_same(kernel, model, scenario):
    console, status, _ = run_irqlab(kernel(model), scenario)
    q = run_qemu(kernel(model), append=f"scenario={scenario}")
    assert console == q.console
    assert status == q.status == 0


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
def test_bug_kernel_boots_and_finishes_on_irqlab(kernel, bug):
    spec = BUGS[bug]
    console, status, _ = run_irqlab(kernel(spec.model, bug=bug), spec.scenario)
    assert f"PASS {spec.scenario}" in console, console


def test_the_run_command_passes_the_guest_status_through(tmp_path):
    r = subprocess.run([sys.executable, "-m", "guest_kernel", "run", "--model", "classic",
                        "--scenario", "hello", "--build-dir", str(tmp_path),
                        "--max-instructions", str(BUDGET)],
                       capture_output=True, text=True)
    assert "PASS hello" in r.stdout
    assert (tmp_path / "classic" / "kernel.elf").exists()
    assert r.returncode in (0, 120)     # 120: a checker fired (reported, not the guest)
