"""The x86 architecture's constants and the exceptions of an event's delivery.

Vectors (Intel SDM vol. 3A table 6-1), which of them push an error code,
the contributory class of table 6-5, EFLAGS and CR0 bits; ``DeliveryFault``
(a fault raised while vectoring an event: it becomes the next event),
``CpuCrash`` and its kinds ``TripleFault`` (a fault while delivering #DF:
shutdown) and ``Unsupported`` (what the emulator does not model).  Shared by
emulator/cpu.py, delivery.py and tasks.py, so none of them imports another
back; cpu.py re-exports every name for its callers.
"""

from __future__ import annotations

from typing import Optional

# vectors that push an error code (SDM table 6-1)
ERROR_CODE_VECTORS = frozenset({8, 10, 11, 12, 13, 14, 17})
CONTRIBUTORY = frozenset({0, 10, 11, 12, 13})
VEC_DB, VEC_DF, VEC_TS, VEC_NP, VEC_SS, VEC_GP, VEC_PF, VEC_UD = 1, 8, 10, 11, 12, 13, 14, 6

EXCEPTION_NAMES = {
    0: "#DE divide error", 1: "#DB debug", 2: "NMI", 3: "#BP breakpoint", 4: "#OF overflow",
    5: "#BR bound range", 6: "#UD invalid opcode", 7: "#NM no math coprocessor",
    8: "#DF double fault", 10: "#TS invalid TSS", 11: "#NP segment not present",
    12: "#SS stack fault", 13: "#GP general protection", 14: "#PF page fault",
    16: "#MF x87 error", 17: "#AC alignment check", 18: "#MC machine check",
    19: "#XM SIMD exception",
}

EFLAGS_TF, EFLAGS_IF, EFLAGS_NT, EFLAGS_RF, EFLAGS_VM = 1 << 8, 1 << 9, 1 << 14, 1 << 16, 1 << 17
EFLAGS_AC = 1 << 18
CR0_PE = 1


class DeliveryFault(Exception):
    """A fault raised while vectoring an event (becomes the next event);
    ``cr2`` is the linear address of a #PF."""

    def __init__(self, vector: int, error_code: int = 0, cr2: Optional[int] = None) -> None:
        super().__init__(vector, error_code)
        self.vector = vector
        self.error_code = error_code
        self.cr2 = cr2


class CpuCrash(Exception):
    """The processor cannot go on; the message is the report's first line."""


class TripleFault(CpuCrash):
    """A fault while delivering #DF: the processor shuts down."""


class Unsupported(CpuCrash):
    """Something the emulator does not model (virtual-8086 mode, rings 1-2)."""


def exception_name(vector: int) -> str:
    return EXCEPTION_NAMES.get(vector, f"vector {vector:#x}")
