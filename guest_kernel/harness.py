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

``check_bugs(only=(), build_dir="build/bugs", verbose=False, out=None)``
(``python -m guest_kernel bugs``, ``make check-bugs``): for each planted bug
(guest_kernel/bugs.py) run its scenario with checks on and a trace, and
print one line -- the bug, the rules that fired, and whether the one it
targets did -- then ``check-bugs: N bugs, K caught``.  Returns 0 when
every bug was caught by its rule, 1 otherwise (also when one could not run).
A bug marked ``explore`` (a race the scenario's own injections never hit)
is caught when its run passes with no rule firing and explore (every
point of its ``line``: emulator/explore) finds the rule; the rule ``guest``
is the scenario's own self-check failing in a branch.

The models, scenarios and CPU counts are guest_kernel/catalog.py's.
"""

from __future__ import annotations

import fcntl
import io
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

from emulator.loader import image_symbols
from emulator.machine import Machine
from emulator.observe import attach
from guest_kernel.bugs import BUGS
from guest_kernel.build import Config, build, is_stale
from guest_kernel.catalog import injection_specs, injections, kernel_cmdline  # noqa: F401 (API)

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent


# -- building ----------------------------------------------------------------------

def _build_dir(build_dir: Optional[str]) -> Path:
    # One place for everyone, so parallel test workers build each
    # configuration once (the guest sees only the image's file name).
    return Path(build_dir) if build_dir else ROOT / "build" / "checks"


def build_locked(cfg: Config, out: Path) -> None:
    """Build when stale, one process at a time (parallel test workers)."""
    os.makedirs(out.parent, exist_ok=True)
    with open(out.parent / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if is_stale(cfg, out):
            build(cfg, out)


def image_for(cfg: Config, build_dir: Optional[str] = None) -> str:
    """The kernel.elf of a configuration, built when stale."""
    out = _build_dir(build_dir) / cfg.name
    build_locked(cfg, out)
    return str(out / "kernel.elf")


def kernel_image(model: str, bug: Optional[str] = None,
                 build_dir: Optional[str] = None) -> str:
    """The kernel.elf of one model (default options), built when stale."""
    return image_for(Config(model, bug=bug), build_dir)


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
               build_dir: Optional[str] = None, native: bool = True) -> KernelRun:
    """Build (if stale) and run one configuration in this process, observed
    and checked as ``python -m emulator run`` does; the exit status is 120
    when a rule fired."""
    return run_image(kernel_image(model, bug, build_dir), scenario, cpus=cpus,
                     trace_path=trace_path, max_instructions=max_instructions, native=native)


def run_image(image: str, scenario: str, cpus: int = 1, trace_path: Optional[str] = None,
              max_instructions: int = 200_000_000, native: bool = True) -> KernelRun:
    """Run a built kernel on a scenario in this process, observed and
    checked as ``python -m emulator run`` does."""
    m = Machine.from_image(image, append=kernel_cmdline(scenario, cpus), cpus=cpus,
                           native=native)
    m.symbols = image_symbols(image)
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
    return KernelRun(status, b"".join(console).decode("latin-1"), err.getvalue(),
                     trace_path, violations, m.clock.now)


# -- the planted bugs ----------------------------------------------------------------

def _explored(name: str, spec, r) -> tuple:
    """A race for explore: the scenario's own run must pass with no rule
    firing, and exploring it (``python -m guest_kernel explore``) must find
    the rule (``guest``: the scenario's self-check failing in a branch)."""
    from emulator.explore import Plan, explore
    from guest_kernel.explore import target_for
    if r.status != 0 or r.rules:
        return r.rules, False, f"  (the run itself: status {r.status}; explore wants it to pass)"
    result = explore(target_for(spec.model, spec.scenario, name, spec.line), Plan())
    fired = sorted({d.finding.rule for d in result.distinct})
    first = next((d.first for d in result.distinct if d.finding.rule == spec.rule), None)
    where = f", first at t={first[0]}" if first else ""
    return fired, spec.rule in fired, (f"  (explore --{spec.line.replace('=', ' ')}: run passes; "
                                       f"{result.points} points, {result.branches} branches{where})")


def check_bugs(only=(), build_dir: str = "build/bugs", verbose: bool = False,
               out=None) -> int:
    """``make check-bugs``: every planted bug is caught by its rule (see above)."""
    out = out or sys.stdout
    bugs = [(name, spec) for name, spec in BUGS.items() if not only or name in only]
    os.makedirs(build_dir, exist_ok=True)
    w = max([20] + [len(name) + 2 for name, _ in bugs])
    print(f"{'bug':<{w}}{'scenario':<16}{'model':<10}{'targets':<17}{'fired':<44}caught",
          file=out)
    caught = 0
    for name, spec in bugs:
        trace = os.path.join(build_dir, f"{name}.jsonl")
        try:
            r = run_config(spec.model, spec.scenario, bug=name, trace_path=trace)
        except Exception as e:      # noqa: BLE001 -- said on its line: the kernel does not build, the machine failed
            print(f"{name:<{w}}could not run: {e}", file=out)
            continue
        note = ""
        if spec.explore:
            fired, hit, note = _explored(name, spec, r)
        else:
            fired = r.rules
            hit = spec.rule in fired
            if r.status not in (120,) and not fired:
                note = f"  (exit status {r.status})"
        caught += hit
        print(f"{name:<{w}}{spec.scenario:<16}{spec.model:<10}{spec.rule:<17}"
              f"{(', '.join(fired) or '-'):<44}{'yes' if hit else 'NO'}{note}", file=out)
        if verbose or not hit:
            for line in r.stderr.splitlines():
                if line.startswith(("checks:", "  ")):
                    print("    " + line, file=out)
    print(f"check-bugs: {len(bugs)} bugs, {caught} caught", file=out)
    return 0 if caught == len(bugs) and bugs else 1
