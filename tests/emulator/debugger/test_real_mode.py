"""Real mode in the debugger: addresses are linear (CS base + IP), code is
decoded as 16-bit, and stepping a CPU that left protected mode returns.

Regression tests for issue 16: on 2 CPUs ``break 0x8000`` then ``c``
printed ``(replay reached 0x0, not 0x8000)`` and every later ``si`` hit the
breakpoint again; disassembly ignored CS; after clearing CR0.PE a ``si``
never returned; ``break *0x8000`` must mean the address, as in gdb.
"""

import asm
from emulator.debugger.control import Debugger
from emulator.machine import Machine
from tests.emulator.debugger.conftest import build_loop, drive
from tests.emulator.debugger.test_smp_views import smp_debugger

TRAMPOLINE = 0x8000         # tests/probes/apic/lib.S: SIPI vector 0x08


def test_break_at_the_ap_trampoline_stops_there_not_at_eip_zero(tmp_path):
    d, _ = smp_debugger(tmp_path)
    out = drive(d, f"break {TRAMPOLINE:#x}\nc\n")
    assert "replay reached" not in out
    assert d.cpu == 1 and d.pc == TRAMPOLINE
    assert d.t.reg("eip", 1) == 0 and d.t.reg("cs", 1) == 0x0800     # CS:IP 0800:0000
    assert "[16-bit, cs:ip 0800:0000]" in out


def test_si_after_a_real_mode_breakpoint_moves_on_instead_of_hitting_it_again(tmp_path):
    d, _ = smp_debugger(tmp_path)
    drive(d, f"break {TRAMPOLINE:#x}\nc\n")
    out = drive(d, "si\nsi\n")
    assert "Breakpoint 1" not in out
    assert d.pc > TRAMPOLINE and d.t.reg("eip", 1) == d.pc - TRAMPOLINE


def test_break_star_address_means_that_address_not_a_load_from_it(tmp_path):
    d, _ = smp_debugger(tmp_path)
    out = drive(d, f"break *{TRAMPOLINE:#x}\nc\n")
    assert f"Breakpoint 1 at {TRAMPOLINE:#x}" in out
    assert d.pc == TRAMPOLINE


def test_disassembly_in_real_mode_decodes_16_bit_code_at_cs_base_plus_ip(tmp_path):
    d, _ = smp_debugger(tmp_path)
    drive(d, f"break {TRAMPOLINE:#x}\nc\n")
    out = drive(d, "disassemble\nx/2i $pc\n")
    # the trampoline's first instructions (tests/probes/apic/lib.S): in 32-bit
    # decoding "mov ax, cs" would read as "mov eax, cs" and lgdt would differ
    assert f"=> {TRAMPOLINE:#010x} <{TRAMPOLINE:#x}>: cli" in out
    assert f"{TRAMPOLINE + 1:#010x} <{TRAMPOLINE + 1:#x}>: mov ax, cs" in out
    assert "0x00000000 <0x0>" not in out


def test_info_cpus_shows_linear_pc_state_and_16_bit_mode(tmp_path):
    d, _ = smp_debugger(tmp_path)
    out = drive(d, f"break {TRAMPOLINE:#x}\nc\ninfo cpus\n")
    assert f"* cpu 1: pc {TRAMPOLINE:#010x}" in out and "running 16-bit" in out


def test_si_after_clearing_cr0_pe_by_hand_returns(tmp_path):
    d, _p = build_loop(tmp_path)
    out = drive(d, "set $cr0 = $cr0 & ~1\nsi 20\ninfo cpus\n")
    assert d.t.now == 20                        # it returned, having run 20 instructions
    assert "16-bit" in out
    assert d.pc == (d.t.reg("cs") << 4) + d.t.reg("eip")


REAL = """\
_start:
        mov eax, cr0
        and eax, 0xfffffffe
        mov cr0, eax
        .byte 0xea                  # ljmp 0x0800:0x0010 (32-bit encoding)
        .long 0x0010
        .short 0x0800
"""


def test_si_through_the_guests_own_switch_to_real_mode_returns_and_follows_cs(tmp_path):
    src = tmp_path / "real.S"
    src.write_text(REAL)
    asm.assemble([str(src)]).write(str(tmp_path / "real.bin"), elf=str(tmp_path / "real.elf"))
    m = Machine.from_image(str(tmp_path / "real.elf"), mem_mib=4)
    m.mem_write(0x8010, bytes.fromhex("b003e6f4"))     # 16-bit: mov al, 3; out 0xf4, al
    d = Debugger(m, max_run=1000)
    out = drive(d, "si 4\nx/2i $pc\nsi 2\n")
    assert "0x00008010 <0x8010>: mov al, 3" in out
    assert "The guest exited with status 3." in out
