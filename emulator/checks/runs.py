"""Run one kernel configuration on one scenario and collect what the checks saw.

Contract
--------
``run_config(model, scenario, bug=None, trace_path=..., cpus=1, timeout=...)``
runs ``python -m guest_kernel run --model M --scenario S [--bug B] --cpus N
--trace FILE`` (the kernel's own runner, which builds the image and feeds
the scenario its injection schedule) in a subprocess and returns a
``RunResult``: the exit status, the console, stderr, and the rules that
fired, read back from the ``check.violation`` events of the trace (so the
result does not depend on the wording of the stderr reports).  Used by
``python -m emulator.checks bugs`` and by tests/golden.

``kernel_available()`` says whether guest_kernel can run scenarios yet, and
why not, so tests skip with a reason instead of failing on a missing piece.
"""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass, field
from typing import Optional

from emulator.trace import TraceError, read_events

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
MODELS = ("classic", "ithread", "threaded")
SCENARIOS = ("hello", "preempt", "ithread_block", "biglock", "storm", "nested", "soak")


@dataclass
class RunResult:
    status: int
    stdout: str
    stderr: str
    trace_path: Optional[str]
    violations: list = field(default_factory=list)   # check.violation events

    @property
    def rules(self) -> list:
        return sorted({v.get("rule") for v in self.violations})

    def summary_line(self) -> Optional[str]:
        lines = [ln for ln in self.stderr.splitlines() if ln.startswith("checks: ")
                 and " rules, " in ln]
        return lines[-1] if lines else None


def kernel_available() -> tuple:
    """(True, "") when ``python -m guest_kernel run`` exists, else (False, why)."""
    if not os.path.exists(os.path.join(ROOT, "guest_kernel", "__main__.py")):
        return False, "guest_kernel has no command line yet (guest_kernel/__main__.py)"
    if not os.path.exists(os.path.join(ROOT, "emulator", "__main__.py")):
        return False, "the emulator has no command line yet (emulator/__main__.py)"
    return True, ""


def run_config(model: str, scenario: str, bug: Optional[str] = None,
               trace_path: Optional[str] = None, cpus: int = 1,
               extra: tuple = (), timeout: int = 600,
               build_dir: Optional[str] = None) -> RunResult:
    if build_dir is None:
        # parallel test workers must not rebuild one configuration together
        worker = os.environ.get("PYTEST_XDIST_WORKER")
        build_dir = os.path.join("build", f"test-{worker}") if worker else "build"
    cmd = [sys.executable, "-m", "guest_kernel", "run", "--model", model,
           "--scenario", scenario, "--cpus", str(cpus), "--build-dir", build_dir]
    if bug:
        cmd += ["--bug", bug]
    if trace_path:
        cmd += ["--trace", str(trace_path)]
    cmd += list(extra)
    p = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=timeout)
    violations = []
    if trace_path and os.path.exists(trace_path):
        try:
            violations = [ev for ev in read_events(trace_path)
                          if ev["ev"] == "check.violation"]
        except TraceError:
            violations = []
    return RunResult(p.returncode, p.stdout, p.stderr, trace_path, violations)
