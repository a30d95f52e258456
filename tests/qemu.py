"""Run an image on qemu-system-i386 the way DESIGN.md prescribes.

QEMU cross-checks skip locally when QEMU is missing, with a reason, and fail
under CI (CI=true), where .ci/run installs it.

Under -icount shift=0,sleep=off with the RTC on virtual time a boot is
deterministic: the same image bytes and arguments print the same and exit
the same.  So within one pytest session a boot is made once: tests/conftest.py
gives ``use_cache`` the session's directory (tests/cache.py, shared by the
xdist workers) and ``run_qemu`` keeps each result there under the SHA-256
of the image's bytes and the arguments; a later identical call (in any
worker) reads it instead of booting again.  Outside pytest (no directory
given) every call boots QEMU.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
from dataclasses import asdict, dataclass
from pathlib import Path

import pytest

from tests.cache import once

QEMU = "qemu-system-i386"


@dataclass
class QemuResult:
    console: str        # what the guest wrote to the debug console (0xE9)
    status: int         # the guest's own exit value (QEMU's (v << 1) | 1 undone)
    raw_status: int     # QEMU's process exit status


_cache_dir: Path | None = None      # this session's shared results (tests/conftest.py)


def use_cache(directory: Path | None) -> None:
    """Keep (and reuse) results in ``directory``; None: boot on every call."""
    global _cache_dir
    _cache_dir = directory


def require_qemu() -> str:
    """Path of qemu-system-i386; skip (or fail under CI) when it is missing."""
    path = shutil.which(QEMU)
    if path is None:
        msg = f"{QEMU} is not installed (apt-get install qemu-system-x86)"
        if os.environ.get("CI"):
            pytest.fail(msg + " — CI must run the QEMU cross-checks")
        pytest.skip(msg)
    return path


def run_qemu(image: str, smp: int = 1, append: str | None = None,
             serial_stdio: bool = False, timeout: float = 60.0,
             cpu: str | None = None) -> QemuResult:
    """Boot ``image`` with ``-kernel`` under deterministic icount.

    The console is the 0xE9 debug port; with ``serial_stdio`` COM1 goes to
    stdout instead (and 0xE9 is dropped).  ``cpu`` is a ``-cpu`` model
    (emulator/cpuid.py QEMU_CPU: QEMU's CPUID the same as irqlab's).  ``timeout`` only guards against a
    hung QEMU; no assertion depends on it.
    """
    qemu = require_qemu()
    # The RTC starts at irqlab's epoch and follows virtual time, as irqlab's
    # does (emulator/devices/mc146818.py), not the host's date and clock.
    args = [qemu, "-icount", "shift=0,sleep=off", "-rtc", "base=2000-01-01T00:00:00,clock=vm",
            "-display", "none",
            "-nodefaults", "-no-reboot", "-m", "32",
            "-device", "isa-debug-exit,iobase=0xf4,iosize=1"]
    if serial_stdio:
        args += ["-serial", "stdio"]
    else:
        args += ["-debugcon", "stdio", "-serial", "null"]
    if smp > 1:
        args += ["-smp", str(smp)]
    if cpu:
        args += ["-cpu", cpu]
    args += ["-kernel", image]
    if append:
        args += ["-append", append]
    if _cache_dir is None:
        return _boot(args, timeout)
    # the image by its bytes (tests write the same kernel under many names)
    named = ["<image>" if a == image else a for a in args[1:]]
    key = hashlib.sha256(Path(image).read_bytes() + "\0".join(named).encode()).hexdigest()

    def boot(path: Path) -> None:
        path.write_text(json.dumps(asdict(_boot(args, timeout))))
    return QemuResult(**json.loads(once(_cache_dir, key, boot).read_text()))


def _boot(args: list, timeout: float) -> QemuResult:
    """One QEMU process: its debug console (or COM1) output and exit status."""
    proc = subprocess.run(args, stdin=subprocess.DEVNULL, capture_output=True, timeout=timeout)
    raw = proc.returncode
    status = raw >> 1 if raw & 1 else -1
    return QemuResult(proc.stdout.decode("latin-1"), status, raw)
