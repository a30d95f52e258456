"""Running irqlab's kernel: build a configuration, run a scenario, catch the planted bugs.

Contract
--------
``image_for(config, build_dir=None)`` is the path of a ``build.Config``'s
kernel.elf, built when stale, one process at a time (parallel test workers
share build/checks/); ``kernel_image(model, bug=None, build_dir=None)`` the
same for a model with the default options.

``kernel_cmdline``, ``injection_specs`` and ``injections`` are catalog.py's
(what running a scenario takes), here too for the harness's users.

``run_image(image, scenario, cpus=1, trace_path=None,
max_instructions=200_000_000, native=True) -> KernelRun`` runs a built
kernel on a scenario in this process, observed and checked exactly as
``python -m emulator run`` does: the machine with the image's symbols, the
scenario's command line and injections, the observer attached.  The
``KernelRun`` has the exit status (120 when a rule fired), the console, the
checkers' reports and summary line on ``stderr``, the violations (rule,
message and the lock/LWP/line fields) and ``instructions`` (the machine's
count at the end).  ``run_config(model, scenario, bug=None,
trace_path=None, cpus=1, max_instructions=200_000_000, build_dir=None,
native=True)`` builds (if stale) and runs one configuration of a model.

``kernel_image`` and ``run_config`` also take the build options
``intr_stack``, ``softint`` and ``drivers`` (``--driver`` strings such as
"kbd=hybrid,biglock"), and ``run_config``/``run_image`` the rules' limits
(``limits={"spinout": N}``).  ``check_bugs`` (``make check-bugs``) is
checkbugs.py's, beside this file.

The models, scenarios and CPU counts are guest_kernel/catalog.py's.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

from emulator.loader import image_symbols
from emulator.machine import Machine
from emulator.observe import attach
from guest_kernel.build import Config, build_locked, parse_drivers
from guest_kernel.catalog import injection_specs, injections, kernel_cmdline  # noqa: F401 (API)

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent


# -- building ----------------------------------------------------------------------

def _build_dir(build_dir: Optional[str]) -> Path:
    # One place for everyone, so parallel test workers build each
    # configuration once (the guest sees only the image's file name).
    return Path(build_dir) if build_dir else ROOT / "build" / "checks"


def image_for(cfg: Config, build_dir: Optional[str] = None) -> str:
    """The kernel.elf of a configuration, built when stale."""
    out = _build_dir(build_dir) / cfg.name
    build_locked(cfg, out)
    return str(out / "kernel.elf")


def kernel_image(model: str, bug: Optional[str] = None,
                 build_dir: Optional[str] = None, intr_stack: str = "shared",
                 softint: str = "thread", drivers=()) -> str:
    """The kernel.elf of one model, built when stale (``drivers``:
    ``--driver`` strings such as "kbd=hybrid,biglock")."""
    return image_for(Config(model, intr_stack, softint, bug, parse_drivers(drivers)), build_dir)


# -- running -----------------------------------------------------------------------

@dataclass
class KernelRun:
    status: int
    stdout: str
    stderr: str
    trace_path: Optional[str]
    violations: list = field(default_factory=list)   # check.violation events
    instructions: int = 0                             # retired by the end of the run

    @property
    def rules(self) -> list:
        return sorted({v.get("rule") for v in self.violations})

    def summary_line(self) -> Optional[str]:
        lines = [ln for ln in self.stderr.splitlines() if ln.startswith("checks: ")
                 and " rules, " in ln]
        return lines[-1] if lines else None


def run_config(model: str, scenario: str, bug: Optional[str] = None,
               trace_path: Optional[str] = None, cpus: int = 1,
               max_instructions: int = 200_000_000,
               build_dir: Optional[str] = None, native: bool = True,
               reference: bool = False, limits: Optional[dict] = None,
               **options) -> KernelRun:
    """Build (if stale) and run one configuration in this process, observed
    and checked as ``python -m emulator run`` does; the exit status is 120
    when a rule fired.  ``options`` are kernel_image's (intr_stack, softint,
    drivers); ``limits`` the rules' (``{"spinout": N}``)."""
    return run_image(kernel_image(model, bug, build_dir, **options), scenario, cpus=cpus,
                     trace_path=trace_path, max_instructions=max_instructions, native=native,
                     reference=reference, limits=limits)


def run_image(image: str, scenario: str, cpus: int = 1, trace_path: Optional[str] = None,
              max_instructions: int = 200_000_000, native: bool = True,
              reference: bool = False, limits: Optional[dict] = None) -> KernelRun:
    """Run a built kernel on a scenario in this process, observed and
    checked as ``python -m emulator run`` does (``reference``: the
    observer's slow paths, emulator/observe/__init__.py)."""
    m = Machine.from_image(image, append=kernel_cmdline(scenario, cpus), cpus=cpus,
                           native=native)
    m.symbols = image_symbols(image)
    console = []
    m.console = lambda data: console.append(bytes(data))
    for spec in injection_specs(scenario):
        m.inject(spec)
    err = io.StringIO()
    session = attach(m, trace_path=trace_path, report=err, reference=reference, limits=limits)
    result = m.run(max_instructions)
    count, line = session.finish()
    err.write(line + "\n")
    violations = [{"rule": v.rule, "message": v.message, **v.fields}
                  for v in session.violations]
    status = session.exit_status(result.status if result.status is not None else 130)
    return KernelRun(status, b"".join(console).decode("latin-1"), err.getvalue(),
                     trace_path, violations, m.clock.now)


# -- exploring (guest_kernel/explore.py's command uses these too) -------------------

def reproduce_prefix(a) -> tuple:
    """``python -m guest_kernel run`` of this configuration and scenario."""
    args = ["python", "-m", "guest_kernel", "run", "--model", a.model]
    for spec in getattr(a, "driver", ()):
        args += ["--driver", spec]
    args += ["--scenario", a.scenario]
    if a.intr_stack != "shared":
        args += ["--intr-stack", a.intr_stack]
    if a.softint != "thread":
        args += ["--softint", a.softint]
    if a.bug:
        args += ["--bug", a.bug]
    if a.build_dir != "build":
        args += ["--build-dir", a.build_dir]
    for spec in a.inject:
        args += ["--inject", spec]
    return tuple(args)


def target_for(model: str, scenario: str, bug=None, line: str = "irq=0", image=None):
    """The Target of one configuration's scenario with its own injections,
    exploring ``line`` (``irq=N``, ``packet=V`` or ``key=B``), for in-process callers
    (make check-bugs).  ``image``: the kernel.elf (default: built when stale
    under build/checks, guest_kernel/harness.py)."""
    import argparse  # (lazy: only this path needs it)
    from dataclasses import replace
    from emulator.explore import cli  # (lazy: only this path needs it)
    from guest_kernel.catalog import injection_specs, kernel_cmdline  # (lazy: only this path needs it)
    kind, _, value = line.partition("=")
    a = argparse.Namespace(irq=int(value, 0) if kind == "irq" else None,
                           packet=int(value, 0) if kind == "packet" else None,
                           key=int(value, 0) if kind == "key" else None,
                           model=model, scenario=scenario, bug=bug, intr_stack="shared",
                           softint="thread", build_dir="build", inject=[], driver=[])
    image = image or kernel_image(model, bug)
    target = cli.read_target(image, kernel_cmdline(scenario), 32, injection_specs(scenario), a)
    return replace(target, reproduce=reproduce_prefix(a))
