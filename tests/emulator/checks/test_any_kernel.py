"""The rules that need only the machine fire on a kernel that is not irqlab's.

tests/emulator/checks/any_kernel.S has no `obs_` label and names its one
stack by a label pair (guest_kernel/OBSERVE.md, "Any kernel"): the run has
2 of the 13 rules on (intr-nesting, stack-bounds) and the correct build
passes.  Each -D bug makes one of them fire, end to end (`python -m
emulator run` on the ELF: status 120, the summary counts it): an `iret`
with IF set out of a device interrupt, the same line's handler entered
again, an ESP loaded outside every named stack.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
SRC = Path(__file__).resolve().parent / "any_kernel.S"


def run(tmp_path, bug: str = ""):
    elf = tmp_path / f"any{bug}.elf"
    defines = ["-D", f"{bug}=1"] if bug else []
    subprocess.run([sys.executable, "-m", "asm", "build", str(SRC), *defines,
                    "-o", str(tmp_path / "any.bin"), "--elf", str(elf)], check=True, cwd=ROOT)
    return subprocess.run([sys.executable, "-m", "emulator", "run", str(elf),
                           "--max-instructions", "20000000"],
                          capture_output=True, text=True, cwd=ROOT, timeout=300)


def test_the_correct_program_passes_with_two_rules_on(tmp_path):
    r = run(tmp_path)
    assert r.returncode == 0, r.stderr
    assert r.stderr.splitlines()[-1] == "checks: 2 of 13 rules on, 0 violations"


@pytest.mark.parametrize("bug, rule, says", [
    ("BUG_IRET_IF", "intr-nesting", "iret at 0x"),
    ("BUG_NEST", "intr-nesting", "irq 0 entered again on cpu0 while its handler is active"),
    ("BUG_STACK", "stack-bounds", "stack switch to ESP 0x90000, in no known stack"),
])
def test_each_bug_makes_its_machine_rule_fire(tmp_path, bug, rule, says):
    r = run(tmp_path, bug)
    assert r.returncode == 120, r.stderr
    assert f"checks: {rule} violated" in r.stderr and says in r.stderr
    assert r.stderr.splitlines()[-1] == "checks: 2 of 13 rules on, 1 violations"
