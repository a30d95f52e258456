"""Run one kernel configuration on one scenario and collect what the checks saw.

Contract
--------
``run_config(model, scenario, bug=None, trace_path=..., cpus=1)`` builds the
configuration with guest_kernel's build (when stale), runs it in this
process on the machine with the scenario's injection schedule
(guest_kernel/scenarios/S.inject) and the observer attached, and returns a
``RunResult``: the exit status (120 when a rule fired), the console, the
checkers' reports and summary line, and the violations (rule, message and
the lock/LWP/line fields).  Used by
``python -m emulator.checks bugs`` and by tests/golden.

With ``cpus`` > 1 the kernel's command line is the one ``python -m
guest_kernel run --cpus N`` gives (``scenario=smp:NAME cpus=N``,
guest_kernel.__main__.kernel_cmdline): the APs come up, then NAME runs.
``SCENARIOS`` lists every scenario; ``scenarios_for(cpus)`` leaves out the
SMP ones (``SMP_SCENARIOS``) on one CPU, where the kernel only prints that
it skips them; ``CPUS`` are the CPU counts checked and blessed (1, 2, 4).

``kernel_image(model, bug=None)`` is the path of one configuration's
kernel.elf, built when stale (also what ``make bench`` runs).

``kernel_available()`` says whether guest_kernel can run scenarios yet, and
why not, so tests skip with a reason instead of failing on a missing piece.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Optional

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
MODELS = ("classic", "ithread", "threaded", "hybrid")     # guest_kernel/build.py MODELS
SCENARIOS = ("hello", "preempt", "ithread_block", "biglock", "storm", "nested", "soak",
             "lending", "smp_contend", "smp_biglock", "smp_ipi", "smp_balance")
# scenarios about several CPUs: on one CPU the kernel only prints that it
# skips them (and PASS), so runs and goldens take them on 2 CPUs and more
SMP_SCENARIOS = tuple(s for s in SCENARIOS if s.startswith("smp_"))
CPUS = (1, 2, 4)        # the CPU counts every scenario is checked and blessed on


def scenarios_for(cpus: int) -> tuple:
    """The scenarios worth running on ``cpus`` CPUs (the SMP ones need two)."""
    return SCENARIOS if cpus > 1 else tuple(s for s in SCENARIOS if s not in SMP_SCENARIOS)


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
    """(True, "") when guest_kernel can build and the machine can run, else (False, why)."""
    try:
        import guest_kernel.build  # noqa: F401
        import guest_kernel.__main__  # noqa: F401
        import emulator.machine  # noqa: F401
    except ImportError as e:
        return False, f"cannot run scenarios yet: {e}"
    return True, ""


def _build_dir(build_dir: Optional[str]) -> str:
    # One place for everyone, so parallel test workers build each
    # configuration once (the guest sees only the image's file name).
    return build_dir or os.path.join(ROOT, "build", "checks")


def _build_locked(cfg, out) -> None:
    """Build when stale, one process at a time (parallel test workers)."""
    import fcntl
    from guest_kernel.build import build, is_stale
    os.makedirs(out.parent, exist_ok=True)
    with open(out.parent / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if is_stale(cfg, out):
            build(cfg, out)


def kernel_image(model: str, bug: Optional[str] = None,
                 build_dir: Optional[str] = None) -> str:
    """The kernel.elf of one configuration (default options), built when stale."""
    from pathlib import Path
    from guest_kernel.build import Config
    cfg = Config(model, "shared", "thread", bug)
    out = Path(_build_dir(build_dir)) / cfg.name
    _build_locked(cfg, out)
    return str(out / "kernel.elf")


def run_config(model: str, scenario: str, bug: Optional[str] = None,
               trace_path: Optional[str] = None, cpus: int = 1,
               max_instructions: int = 200_000_000,
               build_dir: Optional[str] = None) -> RunResult:
    """Build (if stale) and run one configuration in this process, observed
    and checked exactly as ``python -m emulator run`` does with the observer
    attached; the exit status is 120 when a rule fired."""
    import io

    from emulator.machine import Machine
    from emulator.observe import attach
    from guest_kernel.__main__ import injection_specs, kernel_cmdline

    m = Machine.from_image(kernel_image(model, bug, build_dir),
                           append=kernel_cmdline(scenario, cpus), cpus=cpus)
    console = []
    m.console = lambda data: console.append(bytes(data))
    for spec in injection_specs(scenario):
        m.inject(spec)
    err = io.StringIO()
    session = attach(m, trace_path=trace_path, report=err)
    result = m.run(max_instructions)
    count, line = session.finish()
    err.write(line + "\n")
    violations = [{"rule": v.rule, "message": v.message, **v.fields}
                  for v in session.violations]
    status = session.exit_status(result.status if result.status is not None else 130)
    return RunResult(status, b"".join(console).decode("latin-1"), err.getvalue(),
                     trace_path, violations)
