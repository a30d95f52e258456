"""Random guest programs, one family of devices or mechanisms at a time.

Contract
--------
``generate(seed) -> Program`` is a pure function of ``seed``: the family
(``FAMILIES[seed % len(FAMILIES)]``; their generators are in
emulator/fuzz/families.py, the op builder in ops.py), the number of CPUs,
and a list of *ops*, each a self-contained piece of assembly for
emulator/fuzz/runtime.py (unique labels, no assumption about what ran
before it), so that any subset of the ops in order is again a valid program -- which is what the
shrinker (emulator/fuzz/shrink.py) relies on.  Most ops print what they
read; ``flush`` ops print the interrupt log.

Every program is written to print the same on irqlab and on QEMU -icount
when both are right, so an op prints only what follows from the program's
own actions, and stays clear of the differences irqlab documents on purpose:

* counts of the PIT, the LAPIC timer and the HPET relative to their loads,
  never the RTC's or the PM timer's absolute phase (QEMU's virtual clock
  ran SeaBIOS before the program started, irqlab's did not): the PM timer
  and RTC periodic ops check a range themselves and print ``ok``/the value;
* COM1 interrupts only with OUT2 set and outside loopback (a PC gates IRQ 4
  with the OUT2 pin, which loopback holds inactive; irqlab does the same,
  QEMU's 16550 ignores both); what COM1 sends is compared on its own;
* an IO APIC entry made level only with its source quiet (irqlab samples
  the input, as the 82093AA does; QEMU waits for the next rising edge);
* no ELCR level tricks, special mask mode or rotation on the 8259s
  (tests/probes/test_device_probes.py documents where QEMU resolves late);
* fw_cfg only the items and files QEMU and irqlab have in common;
* with several CPUs one CPU acts at a time (the BSP hands an op to an AP and
  halts until it is done): QEMU's and irqlab's interleavings differ.

Families: pic, pit, uart, rtc, lapic (timer and self-IPIs), ioapic, hpet,
pm (PM timer and registers), fw_cfg, exceptions (with error codes, gate
types), smp (IPIs between 2-4 CPUs), mixed (three of the one-CPU families),
and the CPU's own mechanisms (emulator/fuzz/families_sys.py): paging (#PF
with error code and CR2, A/D bits, 4-MiB pages), ring (ring 3 through the
TSS and back through a DPL-3 gate) and task (task gates, call/jmp to a
TSS, bad task gates).
"""

from __future__ import annotations

import random

from emulator.fuzz.families import FAMILY_FUNCS as DEVICE_FAMILY_FUNCS, smp
from emulator.fuzz.families_sys import SYS_FAMILY_FUNCS
from emulator.fuzz.ops import Ops, Program

FAMILIES = ("pic", "pit", "uart", "rtc", "lapic", "ioapic", "hpet", "pm", "fw_cfg",
            "exceptions", "smp", "mixed", "paging", "ring", "task")
FAMILY_FUNCS = {**DEVICE_FAMILY_FUNCS, **SYS_FAMILY_FUNCS}     # the one-CPU families
__all__ = ["FAMILIES", "Ops", "Program", "generate"]


def generate(seed: int) -> Program:
    """The program for ``seed`` (a pure function of it)."""
    rng = random.Random(seed)
    family = FAMILIES[seed % len(FAMILIES)]
    ncpus = rng.choice((2, 2, 3, 4)) if family == "smp" else 1
    o = Ops(rng)
    if family == "smp":
        smp(o, ncpus)
    elif family == "mixed":
        for name in rng.sample(sorted(FAMILY_FUNCS), 3):
            FAMILY_FUNCS[name](o)
            o.flush()
    else:
        FAMILY_FUNCS[family](o)
    o.flush()
    return Program(seed, family, ncpus, o.ops)
