"""The machine with several CPUs: AP start-up, turns, NMI, MMIO timing,
deadlock reports, snapshots.  Guests are built on the APIC probes' lib.S
(tests/probes/apic); every run is bounded by an instruction count."""

from __future__ import annotations

from pathlib import Path

import capstone
import pytest

import asm
from emulator.machine import Machine
from emulator.roundrobin import CpuState

PROBES = Path(__file__).resolve().parents[1] / "probes" / "apic"


def build(text: str, tmp_path: Path, **defines):
    src = tmp_path / "guest.S"
    src.write_text(text)
    return asm.assemble([src], include_dirs=[PROBES], defines=defines)


def boot(image, cpus: int, native: bool = True) -> tuple[Machine, bytearray]:
    m = Machine.from_bytes(image.flat(), cpus=cpus, native=native)
    out = bytearray()
    m.console = out.extend
    return m, out


def sym(image, name: str) -> int:
    return image.symbols[name].value


def u32(m: Machine, addr: int) -> int:
    return int.from_bytes(m.mem_read(addr, 4), "little")


SPINNERS = """
        .include "lib.S"
        .text
ap_spin:
        call lapic_enable
        call ap_signal_done
ap_loop:
        inc dword ptr [ap_count]
        jmp ap_loop
main:
        mov dword ptr [ap_main], ap_spin
        mov eax, 1
        call start_ap
        cli
bsp_loop:
        inc dword ptr [bsp_count]
        jmp bsp_loop
        .data
ap_count: .long 0
bsp_count: .long 0
"""


def test_an_ap_waits_for_its_startup_ipi_and_is_skipped_until_then(tmp_path):
    image = build(SPINNERS, tmp_path)
    m, _ = boot(image, 2)
    assert m.rr.state == [CpuState.RUNNING, CpuState.WAIT_SIPI]
    m.run(max_instructions=200)                # setup only: no INIT sent yet
    assert m.rr.state[1] is CpuState.WAIT_SIPI
    assert u32(m, sym(image, "ap_count")) == 0
    m.run(max_instructions=200_000)
    assert m.rr.state[1] is CpuState.RUNNING
    assert u32(m, sym(image, "ap_count")) > 0


@pytest.mark.parametrize("native", [True, False], ids=["native", "python"])
def test_two_spinning_cpus_share_the_clock_in_turns_of_a_thousand_instructions(tmp_path, native):
    image = build(SPINNERS, tmp_path)
    m, _ = boot(image, 2, native=native)
    m.run(max_instructions=300_000)
    assert m.rr.state == [CpuState.RUNNING, CpuState.RUNNING]
    ap0, bsp0, t0 = u32(m, sym(image, "ap_count")), u32(m, sym(image, "bsp_count")), m.clock.now
    m.run(max_instructions=8_000)
    ap1, bsp1 = u32(m, sym(image, "ap_count")), u32(m, sym(image, "bsp_count"))
    assert m.clock.now - t0 == 8_000               # one clock: instructions of both CPUs
    assert (ap1 - ap0) + (bsp1 - bsp0) == 4_000    # inc + jmp: two instructions a turn
    assert ap1 - ap0 == bsp1 - bsp0 == 2_000       # four turns each, 500 loops a turn


def test_exec_hooks_name_the_cpu_that_reached_the_address(tmp_path):
    image = build(SPINNERS, tmp_path)
    m, _ = boot(image, 2)
    seen = set()
    m.add_exec_hook(sym(image, "ap_loop"), lambda mach, cpu: seen.add((cpu.index, mach.current_cpu)))
    m.add_exec_hook(sym(image, "bsp_loop"), lambda mach, cpu: seen.add((cpu.index, mach.current_cpu)))
    m.run(max_instructions=300_000)
    assert seen == {(0, 0), (1, 1)}


def test_the_trampoline_is_counted_as_16_bit_code_at_its_linear_address(tmp_path):
    image = build(SPINNERS, tmp_path)
    m, _ = boot(image, 2)
    m.run(max_instructions=300_000)
    real = [b for key, b in m.icount.decoded.items() if len(key) == 3]
    assert real and all(0x8000 <= b.addr < 0x9000 for b in real)
    cs16 = capstone.Cs(capstone.CS_ARCH_X86, capstone.CS_MODE_16)
    for b in real:
        code = m.mem_read(b.addr, b.size)
        assert len(b.offsets) == len(list(cs16.disasm(code, b.addr)))


NMI = """
        .include "lib.S"
        .text
main:
        SET_GATE 2, nmi_handler
        cli
        xor edx, edx
        mov eax, ICR_NMI | ICR_ASSERT        # NMI to APIC ID 0: itself
        mov [LAPIC_ICR_HI], edx
        mov [LAPIC_ICR_LO], eax
after_icr:
        nop
        nop
        ret
nmi_handler:
        inc dword ptr [nmis]
        cmp dword ptr [nmis], 1
        jne 1f
        mov eax, [esp]
        mov [ret_eip], eax
        xor edx, edx
        mov eax, ICR_NMI | ICR_ASSERT        # a second NMI: blocked until iret
        mov [LAPIC_ICR_HI], edx
        mov [LAPIC_ICR_LO], eax
        nop
        nop
        mov eax, [nmis]
        mov [nmis_inside], eax
after_second:
1:      iret
        .data
nmis: .long 0
nmis_inside: .long 0
ret_eip: .long 0
"""


@pytest.mark.parametrize("native", [True, False], ids=["native", "python"])
def test_an_nmi_is_taken_with_if_clear_at_the_next_boundary_and_not_nested(tmp_path, native):
    image = build(NMI, tmp_path)
    m, _ = boot(image, 1, native=native)
    kinds = []
    m.on_interrupt.append(lambda cpu, vector, kind, eip, err: kinds.append((vector, eip)))
    r = m.run(max_instructions=100_000)
    assert (r.reason, r.status) == ("exit", 0)
    assert u32(m, sym(image, "ret_eip")) == sym(image, "after_icr")   # right after the write
    assert u32(m, sym(image, "nmis_inside")) == 1                     # no nesting
    assert u32(m, sym(image, "nmis")) == 2                            # the second after iret
    assert [v for v, _ in kinds] == [2, 2]
    assert kinds[1][1] == sym(image, "after_icr")      # the iret returned there: taken at once


def test_every_cpu_halted_with_nothing_to_wake_it_is_a_deadlock_naming_each_cpu(tmp_path):
    image = build("""
        .include "lib.S"
        .text
main:
        cli
        hlt
""", tmp_path)
    m, _ = boot(image, 2)
    r = m.run(max_instructions=1_000_000)
    assert (r.status, r.reason) == (126, "deadlock")
    assert "CPU 0 halted with IF=0, CPU 1 waits for a start-up IPI" in r.report


def test_an_smp_run_is_the_same_after_a_snapshot_restore(tmp_path):
    image = asm.assemble([PROBES / "ipi.S"], include_dirs=[PROBES])
    m, out = boot(image, 2)
    m.run(max_instructions=5_000)               # the probe ends near 8200
    snap = m.snapshot()
    assert m.rr.state[1] is not CpuState.WAIT_SIPI
    cut = len(out)
    first = m.run(max_instructions=50_000_000)
    end, console = m.clock.now, bytes(out[cut:])
    m.restore(snap)
    del out[cut:]
    second = m.run(max_instructions=50_000_000)
    assert (second.status, second.reason) == (first.status, first.reason) == (0, "exit")
    assert m.clock.now == end
    assert bytes(out[cut:]) == console and b"nmi: cpu1 1" in console


def test_trace_events_carry_the_cpu_that_caused_them(tmp_path):
    image = asm.assemble([PROBES / "ipi.S"], include_dirs=[PROBES])
    m, _ = boot(image, 2)
    events = []

    class Sink:
        def emit(self, kind, cpu=0, /, **fields):
            events.append((kind, cpu, fields))
    m.set_trace(Sink())
    m.run(max_instructions=50_000_000)
    enters = {cpu for kind, cpu, _ in events if kind == "intr.enter"}
    assert enters == {0, 1}
    acks = [(cpu, f["apic"]) for kind, cpu, f in events if kind == "apic.ack"]
    assert acks and all(cpu == apic for cpu, apic in acks)     # a LAPIC acks for its own CPU
    assert any(kind == "cpu.start" and cpu == 1 for kind, cpu, _ in events)


def test_restore_works_when_fs_holds_a_selector_stale_in_the_guests_gdt(tmp_path):
    image = asm.assemble([PROBES / "lapic_priority.S"], include_dirs=[PROBES])
    m, out = boot(image, 1)
    m.run(max_instructions=2_000)              # the probe has its own GDT; fs kept 0x18
    assert m.cpus[0].read("fs") == 0x18
    snap = m.snapshot()
    first = m.run(max_instructions=10_000_000)
    end, console = m.clock.now, bytes(out)
    m.restore(snap)
    second = m.run(max_instructions=10_000_000)
    assert (first.reason, second.reason) == ("exit", "exit")
    assert m.clock.now == end and bytes(out).endswith(console[len(console) // 2:])


def test_the_python_block_hook_gives_the_same_smp_trace_as_the_native_one(tmp_path):
    image = asm.assemble([PROBES / "ioapic.S"], include_dirs=[PROBES])
    runs = []
    for native in (True, False):
        m, out = boot(image, 2, native=native)
        events = []

        class Sink:
            def emit(self, kind, cpu=0, /, _m=m, _ev=events, **fields):
                _ev.append((_m.clock.now, cpu, kind, sorted(fields.items())))
        m.set_trace(Sink())
        r = m.run(max_instructions=100_000_000)
        runs.append((r.status, m.clock.now, bytes(out), events))
    assert runs[0][0] == 0
    assert len(runs[0][3]) > 100
    assert runs[0] == runs[1]
