"""The APIC register map (Intel SDM vol. 3A ch. 10, 82093AA datasheet):
what emulator/devices/lapic.py, ioapic.py, apicbus.py and platform.py share.

Contract
--------
Numbers only, no state: the local APIC's MMIO page (``LAPIC_BASE``,
``LAPIC_SIZE``) and register offsets (``REG_*``, SDM Table 10-1), the LVT
indices and names, the delivery modes (``DM_*``: ICR, LVT and IO APIC
redirection entries, bits 8-10), the LVT/SVR/ICR/ESR bits, the ICR's
destination shorthands (``SH_*``), the IA32_APIC_BASE MSR bits, and two
helpers on 256-bit vector sets: ``highest_bit`` and ``priority_class``.
"""

from __future__ import annotations

LAPIC_BASE = 0xFEE00000
LAPIC_SIZE = 0x1000
LAPIC_VERSION = 0x14               # QEMU's "version" property default
LVT_COUNT = 6                      # timer, thermal, perf, LINT0, LINT1, error

# Register offsets (SDM Table 10-1), each 16-byte aligned.
REG_ID, REG_VERSION, REG_TPR, REG_APR, REG_PPR = 0x020, 0x030, 0x080, 0x090, 0x0A0
REG_EOI, REG_RRD, REG_LDR, REG_DFR, REG_SVR = 0x0B0, 0x0C0, 0x0D0, 0x0E0, 0x0F0
REG_ISR, REG_TMR, REG_IRR = 0x100, 0x180, 0x200     # 8 registers each
REG_ESR, REG_ICR_LO, REG_ICR_HI = 0x280, 0x300, 0x310
REG_LVT_TIMER, REG_LVT_THERMAL, REG_LVT_PERF = 0x320, 0x330, 0x340
REG_LVT_LINT0, REG_LVT_LINT1, REG_LVT_ERROR = 0x350, 0x360, 0x370
REG_TIMER_ICR, REG_TIMER_CCR, REG_TIMER_DCR = 0x380, 0x390, 0x3E0

# LVT indices (order of the registers from 0x320).
LVT_TIMER, LVT_THERMAL, LVT_PERF, LVT_LINT0, LVT_LINT1, LVT_ERROR = range(6)
LVT_NAMES = ("timer", "thermal", "perf", "lint0", "lint1", "error")

# Delivery modes (ICR, LVT and IO APIC redirection entries, bits 8-10).
DM_FIXED, DM_LOWEST, DM_SMI, DM_NMI, DM_INIT, DM_SIPI, DM_EXTINT = 0, 1, 2, 4, 5, 6, 7
DM_NAMES = {0: "fixed", 1: "lowest", 2: "smi", 4: "nmi", 5: "init", 6: "startup", 7: "extint"}

LVT_MASKED = 1 << 16
LVT_LEVEL = 1 << 15                # trigger mode (LINT0/LINT1 only)
LVT_TIMER_PERIODIC = 1 << 17
SVR_ENABLE = 1 << 8
SVR_FOCUS_DISABLE = 1 << 9
SVR_WRITABLE = 0x3FF

ICR_DEST_LOGICAL = 1 << 11
ICR_LEVEL_ASSERT = 1 << 14
ICR_TRIGGER_LEVEL = 1 << 15
ICR_DELIVERY_STATUS = 1 << 12

# Destination shorthands (ICR bits 18-19).
SH_NONE, SH_SELF, SH_ALL, SH_OTHERS = 0, 1, 2, 3

# Error status register bits (SDM Figure 10-9).
ESR_SEND_ILLEGAL_VECTOR = 1 << 5
ESR_RECV_ILLEGAL_VECTOR = 1 << 6
ESR_ILLEGAL_REGISTER = 1 << 7

# IA32_APIC_BASE MSR (0x1B).
APICBASE_BSP = 1 << 8
APICBASE_ENABLE = 1 << 11


def highest_bit(bits: int) -> int:
    """Index of the highest set bit of a 256-bit set, -1 if empty."""
    return bits.bit_length() - 1


def priority_class(vector: int) -> int:
    """The priority class of a vector: its upper nibble (SDM 10.8.3)."""
    return (vector >> 4) & 0xF
