"""emulator/ioperm.py: the I/O permission check (SDM vol. 1 19.5) and a
refused access undone.

The rule's cases on a stand-in CPU (no engine), then on the machine with
tests/probes/paging/ioperm.S: a refused access does not retire -- #GP is
delivered with EIP at the instruction and no instruction counted since the
CPU reached it (in/out undone after the port hook; ins/outs, even with
ECX = 0, stopped before they run).  (The probe's text, on irqlab and QEMU, is checked in
tests/probes/paging/test_paging_probes.py.)
"""

from __future__ import annotations

import struct

import pytest

import asm
from emulator import ioperm
from emulator.machine import Machine
from tests.probes.paging.test_paging_probes import HERE, INCLUDES

TSS, MAP = 0x5000, 0x68
P = 1 << 15


class FakeCpu:
    """The little of ``emulator.cpu.Cpu`` the check reads."""

    def __init__(self, cs=0x1B, iopl=0, tr_type=0xB, present=True, limit=MAP + 32,
                 allowed=(0x80, 0xE9), pe=True):
        self.regs = {"cs": cs}
        self.eflags = 2 | (iopl << 12)
        self.pe = pe
        self.tr = (0x28, TSS, limit, (tr_type << 8) | (P if present else 0))
        mem = bytearray(MAP + 33)
        struct.pack_into("<H", mem, 0x66, MAP)
        mem[MAP:] = b"\xff" * 33
        for port in allowed:
            mem[MAP + port // 8] &= ~(1 << (port % 8))
        self.mem = mem
        self.pending_exc = None

    def read(self, name):
        return self.regs[name]

    def protected(self):
        return self.pe

    def cpl(self):
        return self.regs["cs"] & 3

    def task_register(self):
        return self.tr

    def sys_read(self, addr, n):
        off = addr - TSS
        return bytes(self.mem[off:off + n]).ljust(n, b"\0")


def test_ring_0_and_real_mode_are_never_checked():
    assert not ioperm.refused(FakeCpu(cs=0x08, allowed=()), 0x81, 1)
    assert not ioperm.refused(FakeCpu(cs=0x1003, pe=False, allowed=()), 0x81, 1)


def test_cpl_not_above_iopl_skips_the_map():
    assert not ioperm.refused(FakeCpu(iopl=3, allowed=()), 0x81, 1)


def test_a_clear_bit_allows_and_a_set_bit_refuses():
    cpu = FakeCpu()
    assert not ioperm.refused(cpu, 0x80, 1)
    assert not ioperm.refused(cpu, 0xE9, 1)
    assert ioperm.refused(cpu, 0x81, 1)


def test_every_port_of_a_word_or_dword_access_must_be_allowed():
    cpu = FakeCpu(allowed=(0x7E, 0x7F, 0x80, 0x81, 0xE9))
    assert not ioperm.refused(cpu, 0x7E, 4)          # 0x7e-0x81, across a byte boundary
    assert ioperm.refused(cpu, 0x80, 4)              # 0x82, 0x83 refused
    assert ioperm.refused(cpu, 0xE8, 2)              # 0xe8 refused, 0xe9 allowed


def test_both_map_bytes_read_must_lie_inside_the_tss_limit():
    assert ioperm.refused(FakeCpu(limit=MAP + 0xE9 // 8), 0xE9, 1)
    assert not ioperm.refused(FakeCpu(limit=MAP + 0xE9 // 8 + 1), 0xE9, 1)
    assert ioperm.refused(FakeCpu(limit=0x67), 0x80, 1)     # no map at all


@pytest.mark.parametrize("tr_type,present,limit", [
    (0x1, True, MAP + 32),      # a 16-bit TSS
    (0x3, True, MAP + 32),      # a busy 16-bit TSS
    (0xB, False, MAP + 32),     # not present
    (0x9, True, 0x66),          # shorter than a 32-bit TSS
])
def test_tr_without_a_32_bit_tss_refuses_every_checked_access(tr_type, present, limit):
    assert ioperm.refused(FakeCpu(tr_type=tr_type, present=present, limit=limit), 0x80, 1)


def test_an_available_or_busy_32_bit_tss_is_read():
    assert not ioperm.refused(FakeCpu(tr_type=0x9), 0x80, 1)    # QEMU's TR cache after ltr
    assert not ioperm.refused(FakeCpu(tr_type=0xB), 0x80, 1)    # irqlab's after a task switch


# -- on the machine -----------------------------------------------------------------
def test_the_element_size_of_a_string_io_instruction_is_read_past_its_prefixes():
    assert ioperm.string_io_size(b"\xf3\x6e") == 1          # rep outsb
    assert ioperm.string_io_size(b"\x6d") == 4              # insd
    assert ioperm.string_io_size(b"\x66\xf3\x6f") == 2      # rep outsw
    assert ioperm.string_io_size(b"\xf3\xa4") == 0          # rep movsb: not I/O


def _probe():
    img = asm.assemble([HERE / "ioperm.S"], include_dirs=INCLUDES)
    return img.flat(), {n: s.value for n, s in img.symbols.items()}


@pytest.mark.parametrize("native", [True, False], ids=["native", "python"])
@pytest.mark.parametrize("label", ["t_out", "t_in", "t_outs", "t_ins", "t_outs0", "t_cut"])
def test_a_refused_access_does_not_retire_and_gp_is_delivered_at_it(label, native):
    flat, sym = _probe()
    m = Machine.from_bytes(flat, native=native)
    reached, delivered = [], []
    m.add_exec_hook(sym[label], lambda mach, cpu: reached.append(mach.clock.now))

    def first_after(cpu, vector, kind, eip, err):
        if reached and not delivered:
            delivered.append((vector, kind, eip, err, m.clock.now))
    m.on_interrupt.append(first_after)
    out = bytearray()
    m.console = out.extend
    assert m.run(max_instructions=2_000_000).status == 0
    assert delivered == [(13, "exception", sym[label], 0, reached[0])]
