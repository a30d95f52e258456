"""``python -m emulator run`` observes and checks by default (issue 5).

The contract checked here: the run ends with one summary line on stderr,
``checks: 13 rules, N violations``; a rule that fires makes the exit status
120 whatever the guest wrote; ``--no-checks`` turns the checkers off; an
image without the kernel's symbols runs unchanged with the kernel rules
switched off (said once) and nothing fired.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from guest_kernel.harness import injections, kernel_image

ROOT = Path(__file__).resolve().parents[2]


def kernel(model="ithread", bug=None) -> str:
    return kernel_image(model, bug)


def run(*args):
    return subprocess.run([sys.executable, "-m", "emulator", "run", *args],
                          capture_output=True, text=True, cwd=ROOT)


def scenario(elf, name, *extra):
    return run(elf, "--append", f"scenario={name}", *injections(name), *extra)


def test_a_correct_kernel_ends_with_the_summary_line_and_its_own_status():
    r = scenario(kernel(), "biglock")
    assert "PASS biglock" in r.stdout
    assert r.stderr.splitlines()[-1] == "checks: 13 rules, 0 violations"
    assert r.returncode == 0


def test_a_violation_makes_the_status_120_although_the_guest_passed():
    r = scenario(kernel(bug="biglock_leak"), "biglock")
    assert "PASS biglock" in r.stdout           # the guest itself thinks all is well
    assert r.returncode == 120
    assert "biglock-sleep" in r.stderr
    summary = r.stderr.splitlines()[-1]
    assert summary.startswith("checks: 13 rules, ") and not summary.endswith(" 0 violations")


def test_no_checks_keeps_the_guests_status_and_prints_no_summary():
    r = scenario(kernel(bug="biglock_leak"), "biglock", "--no-checks")
    assert r.returncode == 0
    assert "checks:" not in r.stderr


def test_no_checks_still_writes_the_trace(tmp_path):
    trace = tmp_path / "t.jsonl"
    r = scenario(kernel(), "hello", "--no-checks", "--trace", str(trace))
    assert r.returncode == 0
    kinds = {line.split('"ev":')[1].split('"')[1] for line in trace.read_text().splitlines()}
    assert {"irq.raise", "intr.enter", "lwp.switch"} <= kinds
    assert "check.violation" not in kinds


def test_an_image_without_kernel_symbols_runs_with_the_kernel_rules_off(tmp_path):
    probes = ROOT / "tests" / "probes" / "devices"
    elf = tmp_path / "pic.elf"
    subprocess.run([sys.executable, "-m", "asm", "build", str(probes / "pic.S"), "-I", str(probes),
                    "-o", str(tmp_path / "pic.bin"), "--elf", str(elf)], check=True, cwd=ROOT)
    with_checks = run(str(elf))
    without = run(str(elf), "--no-checks")
    assert with_checks.stdout == without.stdout and with_checks.stdout
    assert with_checks.returncode == without.returncode == 0
    off = [ln for ln in with_checks.stderr.splitlines() if "rules off" in ln]
    assert len(off) == 1 and "no kernel symbols" in off[0]
    # only the machine's rule ran, and the last line says so (never "13 rules")
    assert with_checks.stderr.splitlines()[-1] == "checks: 1 of 13 rules on, 0 violations"


@pytest.mark.parametrize("model", ["classic", "threaded"])
def test_make_run_guest_path_reports_checks_for_every_model(model):
    r = subprocess.run([sys.executable, "-m", "guest_kernel", "run", "--model", model,
                        "--scenario", "hello"], capture_output=True, text=True, cwd=ROOT)
    assert r.returncode == 0, r.stderr
    assert r.stderr.splitlines()[-1] == "checks: 13 rules, 0 violations"


def test_spinout_sets_the_bound_a_handler_loop_is_held_to():
    # long_handler's IRQ 1 top half runs 12 M instructions in interrupt context
    elf = kernel("classic", bug="long_handler")
    assert "spinout violated" in scenario(elf, "ithread_block").stderr
    r = scenario(elf, "ithread_block", "--spinout", "20000000")
    assert (r.returncode, r.stderr.splitlines()[-1]) == (0, "checks: 13 rules, 0 violations")
    bad = run(elf, "--spinout", "0")
    assert bad.returncode == 2 and bad.stderr.strip() == \
        "irqlab run: --spinout must be at least 1 instruction"
