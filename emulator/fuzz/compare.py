"""One program on irqlab and on QEMU, and whether they agree.

Contract
--------
``build(program) -> bytes`` assembles a ``gen.Program`` (emulator/fuzz/
runtime.py around its ops) into a Multiboot image.  ``on_irqlab(image,
ncpus)`` runs it in this process (``Machine.from_bytes``, 32 MiB, the
native hook, no observer) for at most ``BUDGET`` instructions;
``on_qemu(image, ncpus)`` runs ``qemu-system-i386`` exactly as the QEMU
cross-checks do (tests/qemu.py: ``-icount shift=0,sleep=off``, ``-rtc
base=2000-01-01T00:00:00,clock=vm``, ``-m 32``, debug console on stdout,
isa-debug-exit; COM1 to a file, which is compared too) with a wall-clock
guard of ``QEMU_TIMEOUT`` seconds that
only decides "QEMU hung", never a result.  Each gives an ``Outcome``:
the console text, what COM1 sent, and how the run ended (``exit N`` for a value written to
0xF4, ``poweroff``, ``budget``, ``crash``, ``deadlock``, ``timeout`` ...).
They agree when all three are equal.

``check(program) -> Verdict`` runs both; when they disagree it says where:
the first differing console line.  ``QemuMissing`` is raised when there is
no qemu-system-i386 (the command line turns it into one line, status 2).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from typing import Optional

from emulator.fuzz import runtime
from emulator.fuzz.gen import Program

QEMU = "qemu-system-i386"
BUDGET = 200_000_000
QEMU_TIMEOUT = 60.0
MEM_MIB = 32


class QemuMissing(Exception):
    """qemu-system-i386 is not installed."""


@dataclass(frozen=True)
class Outcome:
    console: str          # the debug console (0xE9)
    end: str              # "exit N", "poweroff", "budget", "crash", "deadlock", "timeout", ...
    serial: str = ""      # what COM1 sent


@dataclass(frozen=True)
class Verdict:
    seed: int
    family: str
    ncpus: int
    irqlab: Outcome
    qemu: Outcome

    @property
    def same(self) -> bool:
        return self.irqlab == self.qemu

    @property
    def qemu_hung(self) -> bool:
        """QEMU did not finish within QEMU_TIMEOUT: nothing was compared."""
        return self.qemu.end == "timeout"

    def difference(self) -> str:
        """Where the two runs part, in one line (empty when they agree)."""
        if self.same:
            return ""
        a, b = self.irqlab.console.splitlines(), self.qemu.console.splitlines()
        for i, (x, y) in enumerate(zip(a, b)):
            if x != y:
                return f"line {i + 1}: irqlab {x!r}, QEMU {y!r}"
        if len(a) != len(b):
            return f"irqlab printed {len(a)} lines, QEMU {len(b)}"
        if self.irqlab.serial != self.qemu.serial:
            return (f"COM1: irqlab sent {self.irqlab.serial[:40]!r}, "
                    f"QEMU {self.qemu.serial[:40]!r}")
        return f"irqlab ended with {self.irqlab.end}, QEMU with {self.qemu.end}"


def source(program: Program) -> str:
    return runtime.source(program.ops, program.ncpus)


def build(program: Program) -> bytes:
    return runtime.image(program.ops, program.ncpus)


def on_irqlab(image: bytes, ncpus: int) -> Outcome:
    from emulator.machine import Machine    # Unicorn: only in the processes that run guests
    out, com1 = bytearray(), bytearray()
    m = Machine.from_bytes(image, mem_mib=MEM_MIB, cpus=ncpus, image_path="fuzz.bin")
    m.console = out.extend
    m.devices["uart"].output = com1.extend        # COM1 apart from the debug console
    r = m.run(BUDGET)
    end = f"exit {r.status}" if r.reason == "exit" else r.reason
    return Outcome(out.decode("latin-1"), end, com1.decode("latin-1"))


def qemu_path() -> str:
    path = shutil.which(QEMU)
    if path is None:
        raise QemuMissing(f"{QEMU} is not installed (apt-get install qemu-system-x86)")
    return path


def on_qemu(image: bytes, ncpus: int, qemu: Optional[str] = None) -> Outcome:
    qemu = qemu or qemu_path()
    with tempfile.TemporaryDirectory(prefix="irqlab-fuzz-") as tmp:
        path, com1 = os.path.join(tmp, "fuzz.bin"), os.path.join(tmp, "com1")
        with open(path, "wb") as f:
            f.write(image)
        args = [qemu, "-icount", "shift=0,sleep=off", "-rtc", "base=2000-01-01T00:00:00,clock=vm",
                "-display", "none", "-nodefaults", "-no-reboot", "-m", str(MEM_MIB),
                "-device", "isa-debug-exit,iobase=0xf4,iosize=1",
                "-debugcon", "stdio", "-serial", f"file:{com1}", "-smp", str(ncpus),
                "-kernel", path]
        try:
            proc = subprocess.run(args, stdin=subprocess.DEVNULL, capture_output=True,
                                  timeout=QEMU_TIMEOUT)
        except subprocess.TimeoutExpired as e:
            return Outcome((e.stdout or b"").decode("latin-1"), "timeout")
        with open(com1, "rb") as f:
            serial = f.read().decode("latin-1")
    raw = proc.returncode
    end = f"exit {raw >> 1}" if raw & 1 else ("poweroff" if raw == 0 else f"qemu status {raw}")
    return Outcome(proc.stdout.decode("latin-1"), end, serial)


def check(program: Program, qemu: Optional[str] = None) -> Verdict:
    image = build(program)
    return Verdict(program.seed, program.family, program.ncpus,
                   on_irqlab(image, program.ncpus), on_qemu(image, program.ncpus, qemu))
