"""Build kernel configurations: model, drivers, options and planted bugs -> images.

Contract
--------
``Config(model, intr_stack, softint, bug, drivers)`` names one
configuration; ``config.name`` is its directory under build/ (``ithread``,
``classic-sepstack-fastsoft``, ``ithread-testdev-hybrid``,
``ithread-bug-no_unmask`` ...).  ``model`` is the kernel's default
interrupt model; catalog.py's ``DRIVERS`` is the one table of the kernel's
drivers (IRQ line, IPL, whether their handler may run as a thread and why); each
driver runs under the default model when its line is at or below IPL_VM,
in interrupt context (classic) above it, MPSAFE, unless ``drivers``
overrides it: ``parse_drivers(["testdev=hybrid,mpsafe", "kbd=classic,biglock"])``
gives the tuple of (name, model, mpsafe) a Config takes (the command
line's ``--driver NAME=MODEL[,mpsafe|,biglock]``; a Config takes those
strings as they are too).  A threaded model for a
driver above IPL_VM is refused.

``build(config, outdir)`` regenerates gen/ from layout.py, assembles
``SOURCES`` with ``-D`` definitions (MODEL, INTR_STACK_SEPARATE,
SOFTINT_FAST, one BUG_<NAME> per bug, 1 for the planted one, and per
driver <NAME>_MODEL, <NAME>_MPSAFE and <NAME>_NOTE, 1 when it runs
otherwise than its default, which the banner then names) and writes
kernel.bin, kernel.elf, kernel.sym.json and kernel.lst; it returns the ELF
path.  ``is_stale`` says whether the sources are newer than a built image.
Errors are ``BuildError`` with one line (or the assembler's paragraph).
"""

from __future__ import annotations

import fcntl
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import asm
from guest_kernel import layout
from guest_kernel.bugs import BUGS
from guest_kernel.catalog import DRIVERS, INTR_STACKS, MODELS, SOFTINTS

HERE = Path(__file__).resolve().parent
GEN = HERE / "gen"

# one mechanism per file; every model's interrupt path is in every kernel
# (a driver's model picks its line's path at run time: intr.S)
SOURCES = [
    "boot.S", "console.S", "cmdline.S", "pic.S", "apic.S", "spl.S", "switch.S",
    "sched.S", "idle.S", "lwp.S", "sleepq.S", "kernel_lock.S", "mutex.S",
    "turnstile.S", "pin.S", "ring.S", "softint.S", "trap.S", "intr.S",
    "intr_establish.S", "intr_ithread.S", "intr_threaded.S", "intr_stat.S",
    "smp.S", "smp_xcall.S", "clock.S", "com.S", "rtc.S", "testdev.S", "kbd.S",
    "main.S", "scenarios.S", "scen_ithread_block.S", "scen_biglock.S",
    "scen_storm.S", "scen_nested.S", "scen_soak.S", "scen_lending.S", "scen_smp.S",
    "scen_mpsafe.S", "gen/vectors.S",
]


def parse_drivers(specs) -> tuple:
    """``NAME=MODEL[,mpsafe|,biglock]`` strings -> ((name, model, mpsafe), ...)."""
    out = {}
    for spec in specs or ():
        name, eq, rest = spec.partition("=")
        parts = rest.split(",") if eq else []
        if not name or not parts or not parts[0] or len(parts) > 2 or \
                (len(parts) == 2 and parts[1] not in ("mpsafe", "biglock")):
            raise BuildError(f"--driver {spec!r}: expected NAME=MODEL[,mpsafe|,biglock]")
        if name in out:
            raise BuildError(f"--driver {name} given twice")
        out[name] = (name, parts[0], len(parts) == 1 or parts[1] == "mpsafe")
    return tuple(out.values())


class BuildError(Exception):
    pass


@dataclass(frozen=True)
class Config:
    model: str = "ithread"
    intr_stack: str = "shared"      # classic-path handlers: interrupted stack or per-CPU stack
    softint: str = "thread"         # soft interrupts: own LWPs or fast (borrowing)
    bug: Optional[str] = None
    drivers: tuple = ()             # ((name, model, mpsafe), ...) or "NAME=MODEL[,...]" strings

    def __post_init__(self):
        if self.model not in MODELS:
            raise BuildError(f"unknown model {self.model!r} (choose one of {', '.join(MODELS)})")
        if self.intr_stack not in INTR_STACKS:
            raise BuildError(f"--intr-stack must be {' or '.join(INTR_STACKS)}, "
                             f"not {self.intr_stack!r}")
        if self.softint not in SOFTINTS:
            raise BuildError(f"--softint must be {' or '.join(SOFTINTS)}, not {self.softint!r}")
        if self.bug is not None and self.bug not in BUGS:
            raise BuildError(f"unknown bug {self.bug!r} (known: {', '.join(BUGS)})")
        specs = [d for d in self.drivers if isinstance(d, str)]
        drivers = parse_drivers(specs) + tuple(tuple(d) for d in self.drivers
                                               if not isinstance(d, str))
        names = [d[0] for d in drivers]
        if len(set(names)) != len(names):
            raise BuildError(f"--driver {max(names, key=names.count)} given twice")
        for name, model, _mpsafe in drivers:
            self._check_driver(name, model)
        # only what differs from the default matters (and names the build)
        kept = tuple(sorted(d for d in drivers if d[1:] != self.default_setting(d[0])))
        object.__setattr__(self, "drivers", kept)

    @staticmethod
    def _check_driver(name: str, model: str) -> None:
        if name not in DRIVERS:
            raise BuildError(f"unknown driver {name!r} (drivers: {', '.join(sorted(DRIVERS))})")
        if model not in MODELS:
            raise BuildError(f"unknown model {model!r} for driver {name} "
                             f"(choose one of {', '.join(MODELS)})")
        drv = DRIVERS[name]
        if model != "classic" and not drv.threadable:
            raise BuildError(f"driver {name} interrupts at {drv.ipl}, above IPL_VM: its "
                             f"handler runs in interrupt context (classic), not {model}")

    def default_setting(self, name: str) -> tuple:
        """(model, mpsafe) of a driver when nothing overrides it."""
        return (self.model if DRIVERS[name].threadable else "classic", True)

    def setting(self, name: str) -> tuple:
        """(model, mpsafe) the driver is built with."""
        for d in self.drivers:
            if d[0] == name:
                return d[1:]
        return self.default_setting(name)

    @property
    def name(self) -> str:
        n = self.model
        if self.intr_stack == "separate":
            n += "-sepstack"
        if self.softint == "fast":
            n += "-fastsoft"
        for name, model, mpsafe in self.drivers:
            n += f"-{name}-{model}" + ("" if mpsafe else "-biglock")
        if self.bug:
            n += f"-bug-{self.bug}"
        return n

    def defines(self) -> dict[str, int]:
        d = {"MODEL": MODELS[self.model],
             "INTR_STACK_SEPARATE": int(self.intr_stack == "separate"),
             "SOFTINT_FAST": int(self.softint == "fast")}
        for b in BUGS:
            d["BUG_" + b.upper()] = int(b == self.bug)
        for name in DRIVERS:
            model, mpsafe = self.setting(name)
            d[f"{name.upper()}_MODEL"] = MODELS[model]
            d[f"{name.upper()}_MPSAFE"] = int(mpsafe)
            d[f"{name.upper()}_NOTE"] = int((model, mpsafe) != self.default_setting(name))
        return d


def correct_configs() -> list[Config]:
    return [Config(m, s, f) for m in MODELS for s in INTR_STACKS for f in SOFTINTS]


def bug_configs() -> list[Config]:
    return [Config(spec.model, bug=name) for name, spec in BUGS.items()]


def sources(config: Config) -> list[Path]:
    return [HERE / s for s in SOURCES]


def is_stale(config: Config, outdir: Path) -> bool:
    elf = Path(outdir) / "kernel.elf"
    if not elf.exists():
        return True
    inputs = list(HERE.glob("*.S")) + list(HERE.glob("*.inc")) + \
        [HERE / "layout.py", HERE / "catalog.py", HERE / "bugs.py", HERE / "build.py"]
    newest = max(p.stat().st_mtime for p in inputs)
    return newest > elf.stat().st_mtime


def build(config: Config, outdir) -> Path:
    layout.generate(GEN)
    outdir = Path(outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    try:
        image = asm.assemble([str(p) for p in sources(config)], include_dirs=[str(HERE)],
                             defines=config.defines())
    except asm.AsmError as e:
        raise BuildError(f"{config.name}: {e}") from None
    elf = outdir / "kernel.elf"
    image.write(str(outdir / "kernel.bin"), elf=str(elf), sym=str(outdir / "kernel.sym.json"),
                lst=str(outdir / "kernel.lst"))
    return elf


def build_locked(config: Config, outdir) -> None:
    """Build when stale, one process at a time: parallel test workers, two
    ``python -m guest_kernel run`` at once, each build directory's parent
    holding the lock."""
    outdir = Path(outdir)
    os.makedirs(outdir.parent, exist_ok=True)
    with open(outdir.parent / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if is_stale(config, outdir):
            build(config, outdir)
