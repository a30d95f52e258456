"""Build kernel configurations: model, options and planted bugs -> images.

Contract
--------
``Config(model, intr_stack, softint, bug)`` names one configuration;
``config.name`` is its directory under build/ (``ithread``,
``classic-sepstack-fastsoft``, ``ithread-bug-no_unmask`` ...).
``build(config, outdir)`` regenerates gen/ from layout.py, assembles
``SOURCES`` plus the model's interrupt file with ``-D`` definitions
(MODEL, INTR_STACK_SEPARATE, SOFTINT_FAST, one BUG_<NAME> per bug, 1 for
the planted one) and writes kernel.bin, kernel.elf, kernel.sym.json and
kernel.lst; it returns the ELF path.  ``is_stale`` says whether the sources
are newer than a built image.  Errors are ``BuildError`` with the
assembler's one-paragraph message.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import asm
from guest_kernel import layout
from guest_kernel.bugs import BUGS
from guest_kernel.catalog import INTR_STACKS, MODELS, SOFTINTS

HERE = Path(__file__).resolve().parent
GEN = HERE / "gen"

# one mechanism per file; the model's interrupt path is added by build()
SOURCES = [
    "boot.S", "console.S", "cmdline.S", "pic.S", "spl.S", "switch.S",
    "sched.S", "idle.S", "lwp.S", "sleepq.S", "kernel_lock.S", "mutex.S",
    "turnstile.S", "pin.S", "ring.S", "softint.S", "intr.S",
    "intr_classic.S", "clock.S", "com.S", "rtc.S", "testdev.S", "main.S",
    "scenarios.S", "scen_ithread_block.S", "scen_biglock.S", "scen_storm.S",
    "scen_nested.S", "scen_soak.S", "gen/vectors.S",
    # SMP, after everything the UP kernel runs, so that no UP address moves
    "smp.S", "smp_lock.S", "smp_intr.S", "smp_xcall.S", "smp_wq.S", "scen_smp.S",
]
MODEL_SOURCES = {"classic": [], "ithread": ["intr_ithread.S"],
                 "threaded": ["intr_threaded.S"]}


class BuildError(Exception):
    pass


@dataclass(frozen=True)
class Config:
    model: str = "ithread"
    intr_stack: str = "shared"      # classic-path handlers: interrupted stack or per-CPU stack
    softint: str = "thread"         # soft interrupts: own LWPs or fast (borrowing)
    bug: Optional[str] = None

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

    @property
    def name(self) -> str:
        n = self.model
        if self.intr_stack == "separate":
            n += "-sepstack"
        if self.softint == "fast":
            n += "-fastsoft"
        if self.bug:
            n += f"-bug-{self.bug}"
        return n

    def defines(self) -> dict[str, int]:
        d = {"MODEL": MODELS[self.model],
             "INTR_STACK_SEPARATE": int(self.intr_stack == "separate"),
             "SOFTINT_FAST": int(self.softint == "fast")}
        for b in BUGS:
            d["BUG_" + b.upper()] = int(b == self.bug)
        return d


def correct_configs() -> list[Config]:
    return [Config(m, s, f) for m in MODELS for s in INTR_STACKS for f in SOFTINTS]


def bug_configs() -> list[Config]:
    return [Config(spec.model, bug=name) for name, spec in BUGS.items()]


def sources(config: Config) -> list[Path]:
    return [HERE / s for s in SOURCES + MODEL_SOURCES[config.model]]


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
