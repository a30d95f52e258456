"""The adaptive mutex's spin-or-block decision, the kernel's own code run alone.

``mutex_oncpu`` (guest_kernel/mutex.S) is what ``mutex_enter`` asks before
it spins: EDX = the owner, ECX = the waiter -> EAX = 1 (spin) only when the
owner is its CPU's current LWP *and* is not spinning for the big lock
there (NetBSD's mutex_vector_enter: ``mutex_oncpu`` and
``ci_biglock_wanted``; the owner waiting for the big lock may wait for the
very holder that now waits for this mutex).  The scenarios reach the
big-lock case only by chance of the interleaving, so the function is run
here on its own: the image's code in a bare Unicorn (32-bit, flat
segments, what the kernel runs under), with per-CPU data and LWPs written
where the layout says, returning to a sentinel address.
"""

from __future__ import annotations

import pytest
import unicorn
import unicorn.x86_const as X

from emulator.loader import image_symbols
from guest_kernel.layout import struct_offsets

OFF = struct_offsets()
RAM = 16 << 20
CPU0, CPU1 = 0x800000, 0x800000 + OFF["C_SIZE"]
OWNER, WAITER = 0x900000, 0x900000 + OFF["L_SIZE"]
STACK_TOP, SENTINEL = 0xA00000, 0xB00000


def _load(uc, elf: str) -> None:
    from elftools.elf.elffile import ELFFile     # only this test reads segments
    with open(elf, "rb") as f:
        for seg in ELFFile(f).iter_segments():
            if seg["p_type"] == "PT_LOAD" and seg["p_filesz"]:
                uc.mem_write(seg["p_paddr"], seg.data())


def _u32(uc, addr: int, value: int) -> None:
    uc.mem_write(addr, value.to_bytes(4, "little"))


@pytest.fixture(scope="module")
def oncpu(kernel):
    elf = kernel("ithread")
    entry = image_symbols(elf).symbols["mutex_oncpu"].value

    def ask(curlwp_of_cpu1: int, bigwanted_of_cpu1: int, owner=OWNER, waiter=WAITER) -> int:
        uc = unicorn.Uc(unicorn.UC_ARCH_X86, unicorn.UC_MODE_32)
        uc.mem_map(0, RAM)
        _load(uc, elf)
        _u32(uc, OWNER + OFF["L_CPU"], CPU1)          # the owner runs (or ran) on CPU 1
        _u32(uc, WAITER + OFF["L_CPU"], CPU0)         # the waiter on CPU 0
        _u32(uc, CPU0 + OFF["C_CURLWP"], WAITER)
        _u32(uc, CPU1 + OFF["C_CURLWP"], curlwp_of_cpu1)
        _u32(uc, CPU1 + OFF["C_BIGWANTED"], bigwanted_of_cpu1)
        _u32(uc, STACK_TOP - 4, SENTINEL)             # mutex_oncpu returns there
        for reg, value in ((X.UC_X86_REG_ESP, STACK_TOP - 4), (X.UC_X86_REG_EDX, owner),
                           (X.UC_X86_REG_ECX, waiter), (X.UC_X86_REG_EAX, 0xDEAD),
                           (X.UC_X86_REG_ESI, 0x5151)):
            uc.reg_write(reg, value)
        uc.emu_start(entry, SENTINEL, count=100)
        assert uc.reg_read(X.UC_X86_REG_EIP) == SENTINEL       # it returned
        assert uc.reg_read(X.UC_X86_REG_ESI) == 0x5151         # and kept ESI
        return uc.reg_read(X.UC_X86_REG_EAX)
    return ask


def test_a_waiter_spins_while_the_owner_runs_on_another_cpu(oncpu):
    assert oncpu(curlwp_of_cpu1=OWNER, bigwanted_of_cpu1=0) == 1


def test_a_waiter_blocks_when_the_owner_runs_but_spins_for_the_big_lock(oncpu):
    # NetBSD mutex_vector_enter stops spinning here: the owner may be waiting
    # for a big lock the waiter (or someone waiting on the waiter) holds
    assert oncpu(curlwp_of_cpu1=OWNER, bigwanted_of_cpu1=OWNER) == 0


def test_another_lwps_big_lock_wait_on_that_cpu_does_not_stop_the_spin(oncpu):
    # C_BIGWANTED names the LWP that spins for it, not just "someone on CPU 1"
    assert oncpu(curlwp_of_cpu1=OWNER, bigwanted_of_cpu1=WAITER + OFF["L_SIZE"]) == 1


def test_a_waiter_blocks_when_the_owner_is_not_running(oncpu):
    assert oncpu(curlwp_of_cpu1=WAITER + OFF["L_SIZE"], bigwanted_of_cpu1=0) == 0


def test_a_recursive_enter_never_spins_on_itself(oncpu):
    assert oncpu(curlwp_of_cpu1=OWNER, bigwanted_of_cpu1=0, waiter=OWNER) == 0
