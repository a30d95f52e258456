"""Firmware probes: fw_cfg, the ACPI tables, the ACPI PM registers and
timer, the HPET, finding and starting CPUs, S5 -- the same image on
qemu-system-i386 (-smp N where it matters) and on irqlab.

Each expected output is derived from the specifications and QEMU 7.2's
pc machine as the probe's header comment explains line by line; it is not
copied from a run.  Two runs per case: QEMU (the reference) and ``python -m
emulator run IMAGE --cpus N``; both must print exactly the expected text and
exit the same way.
"""

from __future__ import annotations

import subprocess
import sys
from functools import lru_cache
from pathlib import Path

import pytest

import asm
from tests.qemu import run_qemu

HERE = Path(__file__).resolve().parent
APIC = HERE.parent / "apic"
ROOT = HERE.parents[2]


def fw_cfg_expected(n: int) -> str:
    return (f"signature QEMU id 00000003\n"
            f"cpus {n} max {n} ram 0000000002000000\n"
            "irq0 override 00000001 hpet blocks 1 id 8086a201 at fed00000\n"
            "etc/acpi/rsdp: 20 bytes, RSD PTR  BOCHS  rev 0\n"
            "etc/boot-fail-wait: 4 bytes, ffffffff\n"
            "etc/e820: 20 bytes, ram at 00000000 size 02000000 type 1\n"
            "etc/system-states: 6 bytes, 80 00 00 81 82 80\n"
            "dma: QEMU CFG, read QEMU, control 00000000\n")


def acpi_expected(n: int) -> str:
    return ("rsdp BOCHS  rev 0 checksum ok\n"
            "rsdt rev 1 BXPC     checksum ok: FACP APIC HPET WAET\n"
            "FACP rev 1 length 116 checksum ok: sci 9 smi b2 enable f1 disable f0\n"
            "pm1a evt 0600/4 cnt 0604/2 tmr 0608/4 gpe0 afe0/4 century 32 flags 000080a5\n"
            "FACS length 64 aligned waking vector 00000000\n"
            "DSDT rev 1 checksum ok\n"
            "APIC rev 1 checksum ok: lapic fee00000 flags 1\n"
            + "".join(f"cpu {i} apic {i} enabled\n" for i in range(n))
            + "ioapic 0 at fec00000 gsi 0\n"
            "irq 0 -> gsi 2 flags 00000000\n"
            + "".join(f"irq {q} -> gsi {q} flags 0000000d\n" for q in (5, 9, 10, 11))
            + "nmi cpu ff lint 1\n"
            "HPET rev 1 checksum ok: id 8086a201 at fed00000 number 0\n"
            "WAET rev 1 checksum ok: flags 00000002\n")


def cpus_expected(n: int) -> str:
    return (f"fw_cfg: {n} cpus\n"
            f"madt: {n} local apics:" + "".join(f" {i:02x}" for i in range(n)) + "\n"
            + "".join(f"AP apic {i:02x} up\n" for i in range(1, n))
            + f"{n - 1} aps started from the madt, {n} cpus running\n")


PM = """\
pm1 sts 0001 en 0000 cnt 0000
pm timer: 3579 or 3580 counts in 1000000 instructions
acpi enable: cnt 0001, sts after clearing tmr_sts 0000
sci: 1 interrupt, pm1 sts 0001 in the handler, 0000 after, timer bit 23 flipped
gpe0: en ff status 00
"""

HPET = """\
id 8086a201 period 00989680 t0 conf 00000030 cap 00000004 cmp ffffffff ffffffff
counter 00000000 000003e8 000003f0 000003f0
one-shot: 1 interrupt at count 000001f4
periodic: 20 interrupts, comparator 00002af8
level, pin masked: isr 00000004, unmasked: 1 interrupt, isr 00000004 in the handler, \
then 00000000 remote irr 0
deadline: isr 00000000 00000000 00000004
same boundary: 2 interrupts
legacy: pit 0 interrupts, timer 0 1 interrupts, pit again 3 interrupts
"""

POWEROFF = "dsdt: _S3_ 1 _S5_ 0\npowering off\n"

# (probe, NCPUS define and CPUs, expected console, guest exit: a 0xF4 value or "off")
CASES = [
    ("fw_cfg", 1, fw_cfg_expected(1), 0),
    ("fw_cfg", 4, fw_cfg_expected(4), 0),
    ("acpi", 1, acpi_expected(1), 0),
    ("acpi", 4, acpi_expected(4), 0),
    ("cpus", 2, cpus_expected(2), 0),
    ("cpus", 4, cpus_expected(4), 0),
    ("pm", 1, PM, 0),
    ("hpet", 1, HPET, 0),
    ("poweroff", 1, POWEROFF, "off"),
]
IDS = [f"{name}-smp{cpus}" for name, cpus, _, _ in CASES]
MAX_INSTRUCTIONS = 5_000_000_000      # pm waits ~2.3 s of virtual time for the timer's bit 23


@lru_cache(maxsize=None)
def image_bytes(name: str, cpus: int) -> bytes:
    return asm.assemble([HERE / f"{name}.S"], include_dirs=[HERE, APIC],
                        defines={"NCPUS": cpus}).flat()


def build(name: str, cpus: int, tmp_path: Path) -> str:
    out = tmp_path / f"{name}-{cpus}.bin"
    out.write_bytes(image_bytes(name, cpus))
    return str(out)


@pytest.mark.parametrize("name,cpus,expected,exit_", CASES, ids=IDS)
def test_probe_on_qemu_prints_what_the_specifications_predict(name, cpus, expected, exit_,
                                                              tmp_path):
    result = run_qemu(build(name, cpus, tmp_path), smp=cpus, timeout=120)
    assert result.console == expected
    if exit_ == "off":
        assert result.raw_status == 0          # QEMU exits 0 at an ACPI power-off
    else:
        assert result.status == exit_


@pytest.mark.parametrize("name,cpus,expected,exit_", CASES, ids=IDS)
def test_probe_on_irqlab_prints_the_same(name, cpus, expected, exit_, tmp_path):
    proc = subprocess.run([sys.executable, "-m", "emulator", "run", build(name, cpus, tmp_path),
                           "--cpus", str(cpus), "--mem", "32", "--no-checks",
                           "--max-instructions", str(MAX_INSTRUCTIONS)],
                          cwd=ROOT, capture_output=True, timeout=600)
    assert proc.stdout.decode("latin-1") == expected, proc.stderr.decode("latin-1")[-2000:]
    assert proc.returncode == 0                # 0xF4 <- 0, or powered off (also 0)
