"""The APIC bus: how IO APIC messages and IPIs reach the local APICs.

Reference: Intel SDM Vol. 3A 10.6 (issuing interrupts: ICR, destination
modes, shorthands, lowest-priority delivery) and 10.8.5 (the EOI of a
level-triggered vector is broadcast to the IO APICs); 82093AA IO APIC
datasheet 3.2.4 (redirection table to the APIC bus).  QEMU: hw/intc/apic.c
apic_get_delivery_bitmask, apic_bus_deliver, apic_deliver.

Contract:

* LAPICs join with ``attach(lapic)`` (``LocalApic(clock, id, bus)`` does it),
  IO APICs with ``attach_ioapic``.  Delivery happens synchronously inside the
  write that sends the message; every target's ``output_changed`` tells the
  machine to look at that CPU again at its next instruction boundary.
* Targets are always visited in ascending initial APIC ID (= CPU index), so
  delivery order is deterministic.
* Destinations (SDM 10.6.2): physical mode -- the APIC whose ID register
  equals the destination, 0xFF to all; logical mode -- each target's DFR
  decides: flat model (DFR 0xF) matches when ``dest & LDR != 0``; cluster
  model (DFR 0x0) matches when the cluster nibbles are equal (or the
  destination's cluster is 0xF, the SDM's all-clusters broadcast; QEMU only
  matches cluster 15 literally) and the low nibbles intersect.
* Shorthands (ICR bits 18-19): self, all including self, all excluding self;
  they ignore the destination field.
* Lowest-priority delivery (mode 1) picks exactly one target.  The SDM leaves
  the arbitration to the chipset; irqlab's documented choice is
  ``lowest_priority="first"`` (the default, what QEMU does): the destination
  with the lowest APIC ID.  ``lowest_priority="ppr"`` models the SDM's idea:
  a focus processor (a target that already has the vector in its IRR or ISR,
  with focus checking enabled in its SVR) wins; otherwise the target with the
  lowest processor priority class (PPR[7:4]) wins, ties to the lowest APIC ID.
* INIT with level de-assert (ICR trigger=level, level=0) only resynchronises
  arbitration IDs on real hardware: it reaches nobody (QEMU).
* ``eoi_broadcast(vector)``: a LAPIC's EOI of a level-triggered vector goes
  to every IO APIC, which clears Remote IRR of the entries with that vector.
"""

from __future__ import annotations

from typing import Callable

from emulator.devices.apic_regs import (DM_INIT, DM_LOWEST, DM_NAMES, SH_ALL, SH_NONE, SH_OTHERS,
                                        SH_SELF, SVR_FOCUS_DISABLE, priority_class)
from emulator.devices.lapic import LocalApic

SHORTHAND_NAMES = {SH_NONE: "dest", SH_SELF: "self", SH_ALL: "all", SH_OTHERS: "others"}
LOWEST_PRIORITY_POLICIES = ("first", "ppr")


def _no_trace(kind: str, **fields) -> None:
    """Default trace sink: drop the event."""


class ApicBus:
    """The fabric between the IO APIC(s), the LAPICs and their IPIs."""

    def __init__(self, lowest_priority: str = "first") -> None:
        if lowest_priority not in LOWEST_PRIORITY_POLICIES:
            raise ValueError(f"lowest_priority must be one of {LOWEST_PRIORITY_POLICIES}, "
                             f"not {lowest_priority!r}")
        self.lowest_priority = lowest_priority
        self.lapics: list[LocalApic] = []
        self.ioapics: list = []
        self.trace: Callable[..., None] = _no_trace

    def attach(self, lapic: LocalApic) -> None:
        self.lapics.append(lapic)
        self.lapics.sort(key=lambda a: a.initial_id)

    def attach_ioapic(self, ioapic) -> None:
        self.ioapics.append(ioapic)

    # -- destinations ---------------------------------------------------------
    def match(self, dest: int, logical: bool) -> list[LocalApic]:
        """The LAPICs a destination field selects (SDM 10.6.2), in APIC ID order."""
        dest &= 0xFF
        if not logical:
            return [a for a in self.lapics if dest == 0xFF or a.id == dest]
        return [a for a in self.lapics if self._logical_match(a, dest)]

    @staticmethod
    def _logical_match(apic: LocalApic, dest: int) -> bool:
        if apic.dfr_model == 0xF:                       # flat: 8-bit mask
            return bool(dest & apic.ldr)
        if apic.dfr_model == 0x0:                       # cluster: 4-bit id + 4-bit mask
            cluster_ok = (dest >> 4) == 0xF or (dest >> 4) == (apic.ldr >> 4)
            return cluster_ok and bool(dest & apic.ldr & 0x0F)
        return False                                    # reserved DFR model

    def _choose_lowest(self, targets: list[LocalApic], vector: int) -> list[LocalApic]:
        """Lowest-priority arbitration: one target, per the documented policy."""
        if not targets:
            return []
        if self.lowest_priority == "first":
            return [targets[0]]
        bit = 1 << vector
        for apic in targets:
            if not apic.svr & SVR_FOCUS_DISABLE and (apic.irr | apic.isr) & bit:
                return [apic]                           # the focus processor
        return [min(targets, key=lambda a: (priority_class(a.ppr()), a.initial_id))]

    # -- messages ----------------------------------------------------------------
    def deliver(self, dest: int, logical: bool, delivery_mode: int, vector: int,
                trigger_level: bool, source: str = "ioapic") -> list[LocalApic]:
        """An interrupt message (from an IO APIC or MSI); returns the receivers."""
        targets = self.match(dest, logical)
        return self._deliver(targets, delivery_mode, vector, trigger_level, source,
                             f"{'logical' if logical else 'physical'}:{dest:#04x}")

    def send_ipi(self, sender: LocalApic, dest: int, logical: bool, delivery_mode: int,
                 vector: int, trigger_level: bool, assert_: bool = True,
                 shorthand: int = SH_NONE) -> list[LocalApic]:
        """An ICR write of ``sender``: resolve the shorthand, then deliver."""
        if shorthand == SH_SELF:
            targets = [sender]
        elif shorthand == SH_ALL:
            targets = list(self.lapics)
        elif shorthand == SH_OTHERS:
            targets = [a for a in self.lapics if a is not sender]
        else:
            targets = self.match(dest, logical)
        if delivery_mode == DM_INIT and trigger_level and not assert_:
            self.trace("apic.ipi", src=sender.id, mode="init-deassert", vector=vector,
                       to=[a.id for a in targets])
            return []
        where = SHORTHAND_NAMES[shorthand] if shorthand != SH_NONE else \
            f"{'logical' if logical else 'physical'}:{dest:#04x}"
        return self._deliver(targets, delivery_mode, vector, trigger_level,
                             f"cpu-apic{sender.id}", where)

    def _deliver(self, targets: list[LocalApic], mode: int, vector: int,
                 trigger_level: bool, source: str, where: str) -> list[LocalApic]:
        if mode == DM_LOWEST:
            targets = self._choose_lowest(targets, vector)
        self.trace("apic.msg", src=source, dest=where, mode=DM_NAMES.get(mode, str(mode)),
                   vector=vector, level=int(bool(trigger_level)), to=[a.id for a in targets])
        for apic in targets:
            apic.accept(mode, vector, trigger_level)
        return targets

    def eoi_broadcast(self, vector: int) -> None:
        """A level-triggered vector was EOIed at some LAPIC: tell every IO APIC."""
        for ioapic in self.ioapics:
            ioapic.eoi(vector)
