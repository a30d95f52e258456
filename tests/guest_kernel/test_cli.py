"""``python -m guest_kernel run``'s --cpus: every value outside 1..8 gets the
emulator's one-line refusal and status 2 (0 used to run on one CPU)."""

import subprocess
import sys

import pytest

from guest_kernel.__main__ import _emulator_cmd


class Args:
    model, scenario, trace, max_instructions = "ithread", "hello", None, None

    def __init__(self, cpus):
        self.cpus = cpus


@pytest.mark.parametrize("cpus", [0, -1, 9])
def test_cpus_outside_one_to_eight_reaches_the_emulator_and_is_refused(cpus, tmp_path):
    cmd = _emulator_cmd("run", Args(cpus), tmp_path / "kernel.elf")
    assert cmd[cmd.index("--cpus") + 1] == str(cpus)
    r = subprocess.run([sys.executable, "-m", "guest_kernel", "run", "--model", "ithread",
                        "--scenario", "hello", "--cpus", str(cpus)],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 2
    assert "--cpus must be between 1 and 8" in r.stderr
    assert "Traceback" not in r.stderr


def test_one_cpu_passes_no_cpus_option():
    assert "--cpus" not in _emulator_cmd("run", Args(1), "kernel.elf")
