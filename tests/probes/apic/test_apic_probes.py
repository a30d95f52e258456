"""APIC probe programs: the same image on qemu-system-i386 -smp N and on irqlab.

Each expected output below is derived from the SDM / 82093AA datasheet (the
probe's header comment says why each line is what it is), not copied from a
run.  Three runs per probe:

* QEMU (the reference);
* minimachine.py, a small Unicorn test double wired with irqlab's devices,
  emulator/devices/platform.py and emulator/roundrobin.py: it checks the
  APIC models and the SMP plumbing on a real CPU apart from the machine;
* irqlab itself, ``python -m emulator run IMAGE --cpus N``.
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
MAX_INSTRUCTIONS = 100_000_000     # the ioapic probe idles ~7 M of virtual time
ROOT = HERE.parents[2]

AP_START = {
    n: "BSP apic 00\n"
       + "".join(f"AP apic {i:02x} up: version 00050014 svr 000000ff lint0 00010000\n"
                 for i in range(1, n))
       + f"{n} cpus up\n"
    for n in (2, 4)
}

IPI = """\
vector 40: cpu0 0 cpu1 1
vector 41: cpu0 1 cpu1 0
vector 42: cpu0 0 cpu1 1
vector 43: cpu0 1 cpu1 1
vector 44: cpu0 0 cpu1 1
vector 45: cpu0 1 cpu1 1
vector 46: cpu0 1 cpu1 0
vector 47: cpu0 0 cpu1 1
vector 48: cpu0 1 cpu1 1
vector 49: cpu0 0 cpu1 0
nmi: cpu1 1
"""

PRIORITY = """\
tpr 50, sent 55: irr 1
took 65
tpr 40: took 55
enter 70 ppr 00000070
tpr 32: ppr 00000070, tpr 85: ppr 00000085
sent 72: irr 1
enter 81 isr 00010000 00000002
eoi: isr 00010000 00000000
back in 70
took 72
"""

TIMER = """\
dcr 0000000b lvt 00010040
ticks over 1000 insns, divide 1: in range
ticks over 16000 insns, divide 16: in range
one-shot: 1 interrupt(s), ccr 00000000
one-shot later: 1 interrupt(s)
periodic: 3 interrupt(s), reloaded
masked: 0 interrupt(s), ccr 00000000
stopped by initial count 0: 0 interrupt(s)
"""

IOAPIC = """\
ioapic version 00170020 entries 24, pin 2 at start 00010000
pit irq0 -> pin 2 -> cpu0: 3 interrupts
pit irq0 -> pin 2 -> cpu1: 3 interrupts, cpu0 3
rtc: remote irr 1 in handler, 2 deliveries, remote irr 0
rtc edge, register c unread: 3 interrupts
"""

EXTINT = """\
extint with tpr f0: 3 interrupts, vector 20, lapic isr 00000000
lint0 masked: 0 interrupts
apic software-disabled: 3 interrupts
"""

# (probe, -D defines, CPUs, expected console)
CASES = [
    ("ap_start", {"NCPUS": 2}, 2, AP_START[2]),
    ("ap_start", {"NCPUS": 4}, 4, AP_START[4]),
    ("ipi", {}, 2, IPI),
    ("lapic_priority", {}, 1, PRIORITY),
    ("lapic_timer", {}, 1, TIMER),
    ("lapic_extint", {}, 1, EXTINT),
    ("ioapic", {}, 2, IOAPIC),
]
IDS = [f"{name}-smp{cpus}" for name, _, cpus, _ in CASES]


@lru_cache(maxsize=None)
def _image_bytes(name: str, defines: tuple) -> bytes:
    image = asm.assemble([HERE / f"{name}.S"], include_dirs=[HERE], defines=dict(defines))
    return image.flat()


def build(name: str, defines: dict, tmp_path: Path) -> str:
    out = tmp_path / f"{name}.bin"
    out.write_bytes(_image_bytes(name, tuple(sorted(defines.items()))))
    return str(out)


@pytest.mark.parametrize("name,defines,cpus,expected", CASES, ids=IDS)
def test_probe_on_qemu_prints_what_the_sdm_predicts(name, defines, cpus, expected, tmp_path):
    result = run_qemu(build(name, defines, tmp_path), smp=cpus, timeout=60)
    assert result.console == expected
    assert result.status == 0


@pytest.mark.parametrize("name,defines,cpus,expected", CASES, ids=IDS)
def test_probe_on_the_minimachine_with_irqlabs_apic_models(name, defines, cpus, expected):
    from tests.probes.apic.minimachine import MiniMachine

    console, status = MiniMachine(_image_bytes(name, tuple(sorted(defines.items()))), cpus).run()
    assert console == expected
    assert status == 0


@pytest.mark.parametrize("name,defines,cpus,expected", CASES, ids=IDS)
def test_probe_on_irqlab_prints_the_same(name, defines, cpus, expected, tmp_path):
    image = build(name, defines, tmp_path)
    proc = subprocess.run([sys.executable, "-m", "emulator", "run", image, "--cpus", str(cpus),
                           "--max-instructions", str(MAX_INSTRUCTIONS)],
                          cwd=ROOT, capture_output=True, timeout=300)
    assert proc.stdout.decode("latin-1") == expected, proc.stderr.decode("latin-1")[-2000:]
    assert proc.returncode == 0
