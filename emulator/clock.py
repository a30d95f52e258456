"""Virtual time.

Virtual time is the number of guest instructions retired since reset, summed
over nothing else: no wall clock is read anywhere in the emulation.  Devices
need seconds (the PIT counts at 1.193182 MHz, the RTC ticks at 32.768 kHz), so
the machine has one documented parameter that maps instructions to seconds:

    INSN_PER_SECOND = 1_000_000_000   (one instruction = one nanosecond)

That is the rate QEMU uses under ``-icount shift=0``, so a guest that races
a timer sees the same counts on irqlab as on ``qemu-system-i386 -icount
shift=0,sleep=off``.  A halted CPU lets time jump to the next device deadline,
as QEMU does with ``sleep=off``.
"""

INSN_PER_SECOND = 1_000_000_000
NS_PER_SECOND = 1_000_000_000


def insn_to_ns(insns: int) -> int:
    """Virtual nanoseconds elapsed after ``insns`` instructions."""
    return insns * NS_PER_SECOND // INSN_PER_SECOND


def ns_to_insn(ns: int) -> int:
    """The first instruction count at which ``ns`` nanoseconds have elapsed."""
    return -(-ns * INSN_PER_SECOND // NS_PER_SECOND)


def muldiv(a: int, b: int, c: int) -> int:
    """floor(a * b / c) on unbounded integers (QEMU's muldiv64)."""
    return a * b // c


class Clock:
    """The machine's instruction counter, read by devices as ``clock.now``."""

    def __init__(self) -> None:
        self.now = 0  # instructions retired since reset

    def ns(self) -> int:
        """The current virtual time in nanoseconds."""
        return insn_to_ns(self.now)
