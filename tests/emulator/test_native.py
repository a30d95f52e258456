"""The C block hook (emulator/native/blockhook.c) and its Python twin
(emulator/icount.py ``InstructionClock.py_block``) count the same: a kernel
scenario run on each gives the same trace, byte for byte, the same console
and the same status -- on one CPU, and on two (APIC MMIO, a second engine).
And the C hook alone on a bare engine: a block seen before is counted from
its cache, a block entered again with another size is asked about, a block
that would cross the deadline is not run (unless it is the one to skip)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import unicorn
from unicorn import x86_const as X

from emulator import native
from emulator.disasm import Disasm
from guest_kernel.harness import run_config


def require_native() -> None:
    if not native.available():
        msg = "the native block hook is not built (python -m emulator.native build)"
        if os.environ.get("CI"):
            pytest.fail(msg + " — CI must compare both hooks")
        pytest.skip(msg)


@pytest.mark.parametrize("scenario,cpus", [("ithread_block", 1), ("smp_ipi", 2)])
def test_the_c_and_python_block_hooks_give_the_same_trace(scenario, cpus, tmp_path):
    require_native()
    runs = {}
    for hook in ("c", "python"):
        trace = tmp_path / f"{hook}.jsonl"
        r = run_config("ithread", scenario, trace_path=str(trace), cpus=cpus,
                       native=hook == "c")
        runs[hook] = (r.status, r.stdout, r.stderr, Path(trace).read_bytes())
    assert runs["c"][0] == 0 and f"PASS {scenario}" in runs["c"][1]
    assert runs["c"][3].count(b"\n") > 50          # a real run, not an empty trace
    assert runs["c"] == runs["python"]


# The C hook on a bare engine (no machine): a three-turn loop at 0x1000
#   0x1000 mov ecx, 3 / 0x1005 add eax, ecx / 0x1007 dec ecx / 0x1008 jnz 0x1005 / 0x100a hlt
LOOP = bytes.fromhex("b90300000001c84975fbf4")
BASE, AGAIN, DEC, HLT = 0x1000, 0x1005, 0x1007, 0x100A


def bare_engine():
    """(engine, hook, misses, entered): the C hook on an engine holding LOOP;
    ``misses`` lists each (address, size) the hook asked Python about,
    ``entered`` maps each block address to the size last entered there (a
    Python block hook beside the C one)."""
    uc = unicorn.Uc(unicorn.UC_ARCH_X86, unicorn.UC_MODE_32)
    uc.mem_map(0, 0x10000)
    uc.mem_write(BASE, LOOP)
    misses, entered, cs = [], {}, Disasm()

    def miss(addr, size):
        misses.append((addr, size))
        return len(cs.lite(LOOP[addr - BASE:addr - BASE + size], addr))

    hook = native.load_block_hook(uc, miss)
    uc.hook_add(unicorn.UC_HOOK_BLOCK, lambda u, a, s, d: entered.__setitem__(a, s))
    return uc, hook, misses, entered


def test_the_c_hook_counts_a_block_it_has_seen_without_asking_python():
    require_native()
    uc, hook, misses, _ = bare_engine()
    uc.emu_start(BASE, HLT)
    st = hook.state
    assert st.now == 4 + 3 + 3                  # mov..jnz, then two turns of add..jnz
    assert misses == [(BASE, 10), (AGAIN, 5)]   # the second turn was a hit
    assert (st.cur_block, st.last_block, st.block_start, st.last_post) == (AGAIN, AGAIN, 7, AGAIN)


def test_a_block_entered_again_with_another_size_is_always_asked_about():
    # icount's cpu.blocks[addr] is the block Python was last asked about at
    # addr: a partial run's shorter block and the full block after it must
    # each reach Python, never be answered from the cache
    require_native()
    uc, hook, misses, entered = bare_engine()
    uc.emu_start(BASE, HLT)
    uc.reg_write(X.UC_X86_REG_ECX, 2)
    uc.ctl_remove_cache(AGAIN, DEC + 1)         # as icount.partial_until does
    uc.emu_start(AGAIN, DEC)                    # the partial block: add only
    uc.emu_start(DEC, HLT)                      # dec, jnz; then the whole block again
    asked = {}
    for addr, size in misses:
        asked[addr] = size
    assert (AGAIN, 2) in misses and misses.count((AGAIN, 5)) == 2
    assert asked == entered
    assert hook.state.now == 10 + 1 + 2 + 3


def test_the_c_hook_stops_before_a_block_that_would_cross_the_deadline_unless_told_to_skip():
    require_native()
    uc, hook, _, _ = bare_engine()
    st = hook.state
    st.deadline = 2
    uc.emu_start(BASE, HLT)
    assert (st.now, st.block_start, st.cur_block, uc.reg_read(X.UC_X86_REG_EIP)) == (0, 0, BASE, BASE)
    st.skip_addr = BASE                         # a partial run arranged by Python: run it once
    uc.emu_start(BASE, HLT)
    assert (st.now, st.block_start, st.cur_block, st.skip_addr) == (4, 4, AGAIN, -1)
    assert uc.reg_read(X.UC_X86_REG_EIP) == AGAIN


# bh_call: an exec hook whose registers the C hook read just before it ran
def _exec_hook_registers(native_hook: bool, can_call: bool = True):
    """(registers Cpu.captured held in the hook, the same read one by one
    there, captured after the hook) at a guest label, on a machine with or
    without the C hook (``can_call`` False: a library built before bh_call)."""
    import asm
    from emulator.cpu import HOOK_REGS
    from emulator.machine import Machine
    img = asm.assemble_text("""
start:
    mov eax, 0x11111111
    mov ebx, 0x22222222
    mov ecx, 0x33333333
    mov edx, 0x44444444
    mov esi, 0x55555555
    mov edi, 0x66666666
    mov esp, 0x9000
here:
    nop
    hlt
""", entry="start")
    here = [s["value"] for s in img.symfile()["symbols"] if s["name"] == "here"][0]
    m = Machine.from_bytes(img.flat(), native=native_hook)
    if not can_call:
        m.cpus[0].native.can_call = False
    seen = []

    def hook(mach, cpu):
        got = None if cpu.captured is None else list(cpu.captured[:len(HOOK_REGS)])
        seen.append((got, [cpu.read(r) for r in HOOK_REGS]))
    m.add_exec_hook(here, hook)
    m.run(max_instructions=100)
    assert len(seen) == 1
    return seen[0][0], seen[0][1], m.cpus[0].captured, here


def test_an_exec_hook_through_bh_call_finds_its_registers_read_in_c():
    require_native()
    captured, read, after, here = _exec_hook_registers(True)
    assert captured == read                         # what libunicorn says there
    assert read[:7] == [0x11111111, 0x22222222, 0x33333333, 0x44444444,
                        0x55555555, 0x66666666, 0x9000] and read[7] == here
    assert after is None                            # only while the hook runs


def test_without_bh_call_or_the_c_hook_an_exec_hook_reads_its_own_registers():
    require_native()
    for native_hook, can_call in ((False, True), (True, False)):
        captured, read, after, here = _exec_hook_registers(native_hook, can_call)
        assert captured is None and after is None and read[7] == here


@pytest.mark.parametrize("native_hook", [True, False])
def test_a_port_access_through_bh_out_and_bh_in_is_timed_at_its_instruction(native_hook):
    # bh_in/bh_out hand the port dispatch EIP and CS read in C; the access's
    # time (its instruction retired) and the value read back are the same
    # as when the dispatch reads them itself (the Python block hook)
    if native_hook:
        require_native()
    import asm
    from emulator.machine import Machine
    img = asm.assemble_text("""
start:
    mov ecx, 7
spin:
    dec ecx
    jnz spin
    mov al, 0x5a
    out 0x80, al
    in al, 0x80
    mov bl, al
    out 0x80, al
    hlt
""", entry="start")
    m = Machine.from_bytes(img.flat(), native=native_hook)
    seen = []

    class Device:
        def io_write(self, port, size, value):
            seen.append(("out", m.clock.now, value))

        def io_read(self, port, size):
            seen.append(("in", m.clock.now))
            return 0xA5

        def advance(self, now):
            pass
    m._ports[0x80] = Device()
    m.run(max_instructions=1000)
    # 1 mov + 7 x (dec, jnz) + mov: the out is the 17th instruction
    assert seen == [("out", 17, 0x5A), ("in", 18), ("out", 20, 0xA5)]
    assert m.cpus[0].read("ebx") & 0xFF == 0xA5
