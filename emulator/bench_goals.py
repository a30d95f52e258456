"""Issue 17's speed goals, measured as whole processes in one ``make bench``.

Contract
--------
``measure(guest_image, guest_instructions, kernel_image, guest_mips) ->
list[Goal]`` runs, each as a child process timed by the CPU time it used
(user + system, from ``getrusage(RUSAGE_CHILDREN)``: on a shared machine
the CPU a process needs is steadier than its wall time), ``REPEAT``
times; a figure in seconds is the best run, a ratio the median of the
ratios within rounds that run the compared commands in turn
(``child_rounds``, ``median_ratio``):

- QEMU (``qemu-system-i386 -icount shift=0,sleep=off``, DESIGN.md's
  command line) booting the bench kernel with ``scenario=soak``, when it is
  installed; without it the two QEMU goals say "no QEMU";
- ``python -m emulator run`` on the same image and command line (with the
  scenario's injections, as the harness runs it), checked (the default) and
  ``--no-checks``: the ratios to QEMU;
- ``python -m emulator run`` on ``scenario=hello``, checked: the CPU time
  and the best wall time of the short run start-up dominates;
- a raw Unicorn process running the bench loop (the same machine code, no
  hooks) against ``python -m emulator run`` on the bench guest image:
  guest/raw in instructions per CPU second, start-up included;
- in process: the classic kernel's ``storm`` (10,000 test-device packets)
  run bare, the host time per delivered interrupt as bench (c) computes it
  (the run's time minus its instructions at the guest rate (b), per
  delivered interrupt).

``Goal(name, figure, target, met, unit)``; ``met`` is None when the goal
could not be measured here.  The observer's cost per event and the bench
storm's cost per interrupt are bench.py's own rows; ``main`` there adds
them to the table.  Host time is read here and in bench.py only.
"""

from __future__ import annotations

import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from typing import NamedTuple, Optional

from guest_kernel import harness

QEMU = "qemu-system-i386"
REPEAT = 3
SOAK = "soak"

# a raw Unicorn process: the loop's bytes at 1 MiB, ECX = iterations, run to hlt
_RAW = ("import sys, unicorn\n"
        "from unicorn import x86_const as X\n"
        "code, entry, n = bytes.fromhex(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])\n"
        "uc = unicorn.Uc(unicorn.UC_ARCH_X86, unicorn.UC_MODE_32)\n"
        "uc.mem_map(0x100000, 0x10000)\n"
        "uc.mem_write(0x100000, code)\n"
        "uc.reg_write(X.UC_X86_REG_ECX, n)\n"
        "uc.emu_start(entry, 0xFFFFFFFF)\n")


class Goal(NamedTuple):
    name: str
    figure: Optional[float]
    target: str
    met: Optional[bool]
    unit: str = ""

    def row(self) -> str:
        fig = "n/a" if self.figure is None else f"{self.figure:.3g}{self.unit}"
        verdict = {True: "met", False: "NOT met", None: "not measured"}[self.met]
        return f"  {self.name:44} {fig:>12}  target {self.target:10} {verdict}"


def _run_once(argv: list, env: Optional[dict] = None) -> tuple:
    """(CPU seconds, wall seconds) of one run of ``argv`` (its output
    discarded); SystemExit when it fails."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    p = subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if p.returncode != 0 and not (argv[0].endswith(QEMU) and p.returncode == 1):
        raise SystemExit(f"bench: {' '.join(argv[:6])} ... failed with status "
                         f"{p.returncode}: {p.stderr.decode(errors='replace')[-300:]}")
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime), wall


def child_cpu(argv: list, env: Optional[dict] = None) -> tuple:
    """(CPU seconds, wall seconds) of the best of ``REPEAT`` runs of ``argv``."""
    runs = [_run_once(argv, env) for _ in range(REPEAT)]
    return min(cpu for cpu, _ in runs), min(wall for _, wall in runs)


def child_rounds(argvs: list) -> list:
    """The CPU seconds of ``REPEAT`` rounds, each running every command of
    ``argvs`` once, in turn: one list per round, in ``argvs``' order."""
    return [[_run_once(argv)[0] for argv in argvs] for _ in range(REPEAT)]


def median_ratio(rounds: list, i: int, j: int) -> float:
    """The median over ``rounds`` of command i's CPU time over command j's.
    Both are taken in one round, seconds apart: this VM's own speed drifts
    by up to 2x over minutes (raw Unicorn 607 to 1,238 MIPS in one
    afternoon), and the best of each command taken on its own gave
    guest/raw 0.48, 0.51 and 0.73 in three runs of the same code."""
    ratios = sorted(r[i] / r[j] for r in rounds)
    return ratios[len(ratios) // 2]


def _emulator(image: str, *args: str) -> list:
    return [sys.executable, "-m", "emulator", "run", image, *args]


def _qemu(path: str, image: str, append: str) -> list:
    # DESIGN.md's command line (tests/qemu.py runs it the same way)
    return [path, "-icount", "shift=0,sleep=off", "-rtc", "base=2000-01-01T00:00:00,clock=vm",
            "-display", "none", "-nodefaults", "-no-reboot", "-m", "32",
            "-device", "isa-debug-exit,iobase=0xf4,iosize=1", "-debugcon", "stdio",
            "-serial", "null", "-kernel", image, "-append", append]


def _ratio_goal(name, figure, limit, bigger_is_better=False) -> Goal:
    target = (">= " if bigger_is_better else "<= ") + f"{limit}x"
    if figure is None:
        return Goal(name + " (no QEMU here)", None, target, None, "x")
    return Goal(name, figure, target, figure >= limit if bigger_is_better else figure <= limit, "x")


def _storm_us_per_irq(guest_mips: float) -> tuple:
    """(us per delivered interrupt, interrupts) of the classic kernel's storm, bare."""
    from emulator.loader import image_symbols     # the machine only for this row
    from emulator.machine import Machine
    image = harness.kernel_image("classic")
    m = Machine.from_image(image, append=harness.kernel_cmdline("storm"))
    m.symbols = image_symbols(image)
    m.console = lambda data: None
    for spec in harness.injection_specs("storm"):
        m.inject(spec)
    irqs = [0]
    m.on_interrupt.append(lambda cpu, vector, kind, *rest: irqs.__setitem__(0, irqs[0] + (kind == "irq")))
    t0 = time.process_time()
    r = m.run(500_000_000)
    dt = time.process_time() - t0
    if r.reason != "exit":
        raise SystemExit(f"bench: classic storm did not finish: {r.reason} {r.report}")
    return max(0.0, dt - m.clock.now / (guest_mips * 1e6)) / max(1, irqs[0]) * 1e6, irqs[0]


def measure(guest_image: bytes, guest_instructions: int, loop: tuple, kernel_image: str,
            guest_mips: float) -> tuple:
    """(goals, figures for the JSON line).  ``loop`` = (machine code, entry,
    iterations) of the raw loop; ``guest_image`` runs the same loop as a guest
    retiring ``guest_instructions``."""
    figures: dict = {}
    append = harness.kernel_cmdline(SOAK)
    inject = harness.injections(SOAK)
    qemu = shutil.which(QEMU)
    soak = [_emulator(kernel_image, "--append", append, *inject, "--no-checks"),
            _emulator(kernel_image, "--append", append, *inject)]
    if qemu is not None:
        soak.append(_qemu(qemu, kernel_image, append))
    rounds = child_rounds(soak)
    bare_cpu, checked_cpu = min(r[0] for r in rounds), min(r[1] for r in rounds)
    checked_q = bare_q = None
    if qemu is not None:
        figures["qemu_soak_s"] = round(min(r[2] for r in rounds), 3)
        bare_q, checked_q = median_ratio(rounds, 0, 2), median_ratio(rounds, 1, 2)
    hello_cpu, hello_wall = child_cpu(_emulator(kernel_image, "--append",
                                                harness.kernel_cmdline("hello")))
    code, entry, iterations = loop
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "guest.bin")
        with open(path, "wb") as f:
            f.write(guest_image)
        loops = child_rounds([[sys.executable, "-c", _RAW, code.hex(), str(entry),
                               str(iterations)], _emulator(path)])
    # guest/raw in instructions per CPU second: (g / guest cpu) / (r / raw cpu)
    process_ratio = guest_instructions / (iterations * 4) * median_ratio(loops, 0, 1)
    storm_us, storm_irqs = _storm_us_per_irq(guest_mips)
    figures.update({"soak_checked_s": round(checked_cpu, 3), "soak_bare_s": round(bare_cpu, 3),
                    "soak_checked_vs_qemu": checked_q and round(checked_q, 2),
                    "soak_bare_vs_qemu": bare_q and round(bare_q, 2),
                    "hello_cpu_s": round(hello_cpu, 3), "hello_wall_s": round(hello_wall, 3),
                    "process_ratio": round(process_ratio, 3),
                    "us_per_irq_classic_storm": round(storm_us, 2),
                    "classic_storm_irqs": storm_irqs})
    goals = [
        _ratio_goal("soak checked, process CPU / QEMU's", checked_q, 3),
        _ratio_goal("soak --no-checks, process CPU / QEMU's", bare_q, 1.2),
        Goal("classic storm, us per delivered interrupt", storm_us, "<= 15 us", storm_us <= 15, " us"),
        _ratio_goal("bench loop guest/raw, whole processes", process_ratio, 0.5, True),
        Goal("run hello checked, process CPU", hello_cpu, "<= 0.25 s", hello_cpu <= 0.25, " s"),
        Goal("run hello checked, best wall", hello_wall, "<= 0.25 s", hello_wall <= 0.25, " s"),
    ]
    return goals, figures
