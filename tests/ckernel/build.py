"""Build the C test kernel (kernel.c, boot.S, trap.S, kernel.ld) with gcc and GNU ld.

``build(outdir) -> Path`` of ckernel.elf (cached per output directory);
``unavailable() -> str | None`` says why it cannot be built here (no gcc,
no ld, or gcc cannot compile -m32: the i386 code generator is part of
Debian's plain gcc, so no gcc-multilib is needed -- the kernel uses no libc
or libgcc).  Tests skip with that reason locally and fail under CI.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
CFLAGS = ["-m32", "-ffreestanding", "-fno-pic", "-fno-pie", "-fno-stack-protector",
          "-fno-asynchronous-unwind-tables", "-fno-builtin", "-nostdlib", "-O1", "-g", "-Wall"]


def _run(args, cwd) -> None:
    proc = subprocess.run(args, cwd=cwd, capture_output=True, text=True, timeout=120)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(args)} failed:\n{proc.stderr}")


def unavailable() -> str | None:
    for tool in ("gcc", "ld"):
        if shutil.which(tool) is None:
            return f"{tool} is not installed"
    with tempfile.TemporaryDirectory() as tmp:
        probe = Path(tmp) / "probe.c"
        probe.write_text("int f(void) { return 1; }\n")
        try:
            _run(["gcc", "-m32", "-ffreestanding", "-c", str(probe), "-o", str(Path(tmp) / "p.o")], tmp)
        except RuntimeError as e:
            return f"gcc cannot compile -m32 code here: {e}"
    return None


def require() -> None:
    """Skip (fail under CI) when the kernel cannot be built here."""
    why = unavailable()
    if why is not None:
        if os.environ.get("CI"):
            pytest.fail(why + " -- CI must build the C test kernel")
        pytest.skip(why)


def build(outdir) -> Path:
    out = Path(outdir)
    out.mkdir(parents=True, exist_ok=True)
    elf = out / "ckernel.elf"
    if elf.exists():
        return elf
    objs = []
    for src in ("boot.S", "trap.S", "kernel.c"):
        obj = out / (Path(src).stem + ".o")
        flags = CFLAGS if src.endswith(".c") else ["-m32", "-g"]
        _run(["gcc", *flags, "-c", str(HERE / src), "-o", str(obj)], HERE)
        objs.append(str(obj))
    _run(["ld", "-m", "elf_i386", "--no-warn-rwx-segments", "-T", str(HERE / "kernel.ld"),
          "-o", str(elf), *objs], HERE)
    return elf
