"""What the kernel can be built as and asked to run: the one table.

Contract
--------
Every list of models, build options, drivers, scenarios and CPU counts in
the project comes from here (the build, the command line, the harness, the
goldens, the tests; layout.py turns the parts the assembly needs into
gen/layout.inc and the scenario tables):

* ``MODELS``: interrupt model name -> the value of ``-D MODEL`` (and of the
  ``MODEL_<NAME>`` constants in gen/layout.inc).
* ``ONE_CPU_MODELS``: the models checked and blessed on one CPU only;
  ``models_for(cpus)``.
* ``INTR_STACKS``, ``SOFTINTS``: the values of ``--intr-stack`` and
  ``--softint`` (the first is the default).
* ``DRIVERS``: the kernel's device drivers, name -> ``Driver(line, ipl,
  threadable, why)`` (build.py checks ``--driver`` against it).
* ``SCENARIOS``: ``Scenario(name, smp, qemu)`` in the order of the kernel's
  tables -- ``smp`` for the scenarios about several CPUs (on one CPU the
  kernel prints that it skips them, and passes), ``qemu`` for those that
  pass on ``qemu-system-i386`` too (their injections, if any, are
  irqlab's extras; ``storm`` is nothing without its 10,000 packets);
  ``SCENARIO_NAMES``, ``SMP_SCENARIOS``,
  ``QEMU_SCENARIOS``, ``scenarios_for(cpus)``.
* ``MAX_CPUS``: the kernel's limit (the size of its per-CPU arrays; no
  more than the machine's, emulator/devices/platform.py); ``CPUS``: the CPU
  counts every scenario is checked and blessed on.

What running a scenario takes: ``kernel_cmdline(scenario, cpus=1)`` is the
kernel's command line, ``scenario=NAME`` on one CPU, ``scenario=NAME
cpus=N`` on several (the kernel starts N-1 APs, then runs NAME; it still
takes the older ``scenario=smp:NAME`` form); ``injection_specs(scenario)`` are the ``--inject`` specs
the scenario carries (scenarios/NAME.inject, one per non-comment line),
``injections(scenario)`` the same as command-line arguments.
"""

from __future__ import annotations

from pathlib import Path
from typing import NamedTuple

HERE = Path(__file__).resolve().parent

MODELS = {"classic": 0, "ithread": 1, "threaded": 2, "hybrid": 3}
# checked and blessed on one CPU only: none (one kernel for 1..N CPUs, every
# model on every CPU count)
ONE_CPU_MODELS: tuple = ()
INTR_STACKS = ("shared", "separate")     # classic-path handlers: interrupted stack or per-CPU stack
SOFTINTS = ("thread", "fast")            # soft interrupts: own LWPs or fast (borrowing)


class Driver(NamedTuple):
    line: int
    ipl: str
    threadable: bool    # at or below IPL_VM: its handler may run as a thread
    why: str            # why it runs under the model it does by default


# The kernel's drivers (guest_kernel/README.md shows this table).
DRIVERS = {
    "clock": Driver(0, "IPL_SCHED", False, "the tick drives preemption and timed "
                    "sleeps; above IPL_VM, interrupt context only"),
    "kbd": Driver(1, "IPL_VM", True, "the scenarios' device (8042, IRQ 1): "
                  "its bottom half takes an adaptive mutex, so the model matters"),
    "com": Driver(4, "IPL_HIGH", False, "serial input must not be lost: "
                  "IPL_HIGH, interrupt context only"),
    "testdev": Driver(5, "IPL_VM", True, "irqlab's packet device (IRQ 5): "
                      "its bottom half takes an adaptive mutex"),
    "rtc": Driver(8, "IPL_SCHED", False, "a second clock; above IPL_VM, "
                  "interrupt context only"),
}


class Scenario(NamedTuple):
    name: str
    smp: bool = False      # about several CPUs: skipped (and passed) on one
    qemu: bool = True      # passes on qemu-system-i386 too (without irqlab's injections)


SCENARIOS = (
    Scenario("hello"),
    Scenario("preempt"),
    Scenario("ithread_block"),
    Scenario("biglock"),
    Scenario("storm", qemu=False),       # 10,000 injected test-device packets
    Scenario("nested"),
    Scenario("soak"),
    Scenario("lending"),
    Scenario("smp_contend", smp=True),
    Scenario("smp_ipi", smp=True),
    Scenario("smp_balance", smp=True),
    Scenario("smp_mpsafe", smp=True),
)
SCENARIO_NAMES = tuple(s.name for s in SCENARIOS)
SMP_SCENARIOS = tuple(s.name for s in SCENARIOS if s.smp)
QEMU_SCENARIOS = tuple(s.name for s in SCENARIOS if s.qemu)

MAX_CPUS = 8
CPUS = (1, 2, 4)       # the CPU counts every scenario is checked and blessed on


def models_for(cpus: int) -> tuple:
    """The models checked and blessed on ``cpus`` CPUs."""
    return tuple(m for m in MODELS if cpus == 1 or m not in ONE_CPU_MODELS)


def scenarios_for(cpus: int) -> tuple:
    """The scenarios worth running on ``cpus`` CPUs (the SMP ones need two)."""
    return tuple(s.name for s in SCENARIOS if cpus > 1 or not s.smp)


def kernel_cmdline(scenario: str, cpus: int = 1) -> str:
    """The kernel's command line for a scenario on ``cpus`` CPUs (see above)."""
    if cpus <= 1:
        return f"scenario={scenario}"
    return f"scenario={scenario} cpus={cpus}"


def injection_specs(scenario: str) -> list[str]:
    """The injection specs a scenario carries (scenarios/NAME.inject), for
    ``machine.inject``."""
    f = HERE / "scenarios" / f"{scenario}.inject"
    if not f.exists():
        return []
    lines = (line.split("#", 1)[0].strip() for line in f.read_text().splitlines())
    return [line for line in lines if line]


def injections(scenario: str) -> list[str]:
    """The same as --inject arguments for ``python -m emulator``."""
    return [arg for spec in injection_specs(scenario) for arg in ("--inject", spec)]
