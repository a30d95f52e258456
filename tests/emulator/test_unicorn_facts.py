"""What Unicorn 2.1.4 does that the machine's clock relies on (measured).

* a uc_emu_stop from a block hook stops before the block runs, EIP at it;
* a uc_emu_stop from an I/O hook does NOT stop at once: the rest of the
  translation block runs (hence the machine's post-I/O code hooks);
* a uc_emu_stop from a code hook stops before that instruction;
* in an I/O hook EIP is the address of the in/out itself;
* sti ends a translation block (so the shadow is "the previous block's end");
* emu_start(count=N) is wrong once blocks are cached (hence no count mode);
* QEMU's remembered contributory exception survives UC_HOOK_INTR (hence
  emulator.cpu.reset_exception_chain);
* in/out/ins/outs at CPL 3 > IOPL are not checked against the TSS's I/O
  map, hooked or not, and an ``ins`` stores 0 at ES:[EDI] before its hook
  runs (hence emulator/ioperm.py).
"""

from __future__ import annotations

import unicorn
from unicorn import x86_const as X

import asm
from emulator.cpu import VEC_GP, _find_old_exception_offset

CODE = 0x1000


def engine(text: str):
    img = asm.assemble_text(text, base=CODE, entry="start")
    code = img.memory() if hasattr(img, "memory") else img.flat()
    uc = unicorn.Uc(unicorn.UC_ARCH_X86, unicorn.UC_MODE_32)
    uc.mem_map(0, 0x10000)
    uc.mem_write(CODE, bytes(code))
    return uc, img


LOOP = """
start:
    inc eax
    inc eax
    out 0x80, al
    inc ebx
    inc ebx
    inc ebx
    jmp start
"""


def test_stop_in_block_hook_runs_nothing_of_that_block():
    uc, _ = engine(LOOP)
    seen = []

    def blk(u, addr, size, ud):
        seen.append(addr)
        if len(seen) == 2:
            u.emu_stop()
    uc.hook_add(unicorn.UC_HOOK_BLOCK, blk)
    uc.emu_start(_entry(uc), 0xFFFFFFFF)
    assert uc.reg_read(X.UC_X86_REG_EAX) == 2
    assert uc.reg_read(X.UC_X86_REG_EBX) == 3
    assert uc.reg_read(X.UC_X86_REG_EIP) == seen[1]


def _entry(uc) -> int:
    return CODE + 32 if bytes(uc.mem_read(CODE, 4)) == b"\x02\xb0\xad\x1b" else CODE


def test_stop_in_out_hook_finishes_the_block_and_eip_is_the_out():
    uc, _ = engine(LOOP)
    eips = []

    def out(u, port, size, value, ud):
        eips.append(u.reg_read(X.UC_X86_REG_EIP))
        u.emu_stop()
    uc.hook_add(unicorn.UC_HOOK_INSN, out, None, 1, 0, X.UC_X86_INS_OUT)
    entry = _entry(uc)
    uc.emu_start(entry, 0xFFFFFFFF)
    assert eips == [entry + 2]                      # the out itself
    assert uc.reg_read(X.UC_X86_REG_EBX) == 3       # the three inc ebx ran anyway


def test_stop_in_code_hook_stops_before_that_instruction():
    uc, _ = engine(LOOP)
    entry = _entry(uc)
    uc.hook_add(unicorn.UC_HOOK_INSN, lambda *a: None, None, 1, 0, X.UC_X86_INS_OUT)
    uc.hook_add(unicorn.UC_HOOK_CODE, lambda u, a, s, d: u.emu_stop(), None, entry + 4, entry + 4)
    uc.emu_start(entry, 0xFFFFFFFF)
    assert uc.reg_read(X.UC_X86_REG_EIP) == entry + 4
    assert uc.reg_read(X.UC_X86_REG_EBX) == 0


def test_sti_ends_a_translation_block():
    uc, _ = engine("start:\n sti\n inc eax\n inc eax\n hlt\n")
    blocks = []
    uc.hook_add(unicorn.UC_HOOK_BLOCK, lambda u, a, s, d: blocks.append((a, s)))
    entry = _entry(uc)
    uc.emu_start(entry, 0xFFFFFFFF)
    assert blocks[0] == (entry, 1)


def test_count_mode_is_wrong_once_blocks_are_cached():
    uc, _ = engine("start:\n inc eax\n inc eax\n inc ebx\n jmp start\n")
    entry = _entry(uc)
    n = [0]

    def blk(u, a, s, d):
        n[0] += 1
        if n[0] > 3:
            u.emu_stop()
    uc.hook_add(unicorn.UC_HOOK_BLOCK, blk)
    uc.emu_start(entry, 0xFFFFFFFF)
    uc.reg_write(X.UC_X86_REG_EAX, 0)
    n[0] = 0
    uc.emu_start(entry, 0xFFFFFFFF, count=2)
    assert uc.reg_read(X.UC_X86_REG_EAX) != 2       # a correct count would stop at 2


def test_a_remembered_de_turns_a_later_gp_into_df_unless_reset():
    uc = unicorn.Uc(unicorn.UC_ARCH_X86, unicorn.UC_MODE_32)
    uc.mem_map(0, 0x2000)
    uc.mem_write(0x1000, b"\xf7\xf1\x8e\xd8")       # div ecx; mov ds, ax
    seen = []
    uc.hook_add(unicorn.UC_HOOK_INTR, lambda u, v, d: (seen.append(v), u.emu_stop()))
    uc.emu_start(0x1000, 0x1004)
    uc.reg_write(X.UC_X86_REG_EAX, 0x0803)
    uc.emu_start(0x1002, 0x1004)
    assert seen == [0, 8]
    assert _find_old_exception_offset() is not None
    assert VEC_GP == 13


# -- paging, privilege and the instructions Unicorn leaves to the machine -------------
PD, PT = 0x10000, 0x11000


def paged_engine(code: bytes, pte=lambda i: (i << 12) | 3, cr0=0x80000011):
    """Paging on, the low 4 MiB mapped one to one (PTE i from ``pte``), code at 0x2000."""
    import struct
    uc = unicorn.Uc(unicorn.UC_ARCH_X86, unicorn.UC_MODE_32)
    uc.mem_map(0, 0x400000)
    uc.mem_write(PD, struct.pack("<I", PT | 7))
    uc.mem_write(PT, b"".join(struct.pack("<I", pte(i)) for i in range(1024)))
    uc.reg_write(X.UC_X86_REG_CR3, PD)
    uc.reg_write(X.UC_X86_REG_CR0, cr0)
    uc.mem_write(0x2000, code)
    return uc


def test_an_unmapped_emu_start_until_sets_cr2_and_arms_the_double_fault_chain():
    # why the machine ends runs through the exits list (ctl_exits_enabled)
    from emulator.engine_state import _find_old_exception_offset
    import struct
    uc = paged_engine(b"\x90\x90\xf4", pte=lambda i: (i << 12) | 3 if i < 0x100 else 0)
    uc.reg_write(X.UC_X86_REG_CR2, 0x1111)
    uc.emu_start(0x2000, 0xFFFFFFFFFFFF)
    assert uc.reg_read(X.UC_X86_REG_CR2) != 0x1111
    old = struct.unpack_from("<i", bytes(uc.context_save()), _find_old_exception_offset())[0]
    assert old == 14                       # the next real #PF would become #DF
    uc2 = paged_engine(b"\x90\x90\xf4", pte=lambda i: (i << 12) | 3 if i < 0x100 else 0)
    uc2.ctl_exits_enabled(True)
    uc2.ctl_set_exits([])
    uc2.reg_write(X.UC_X86_REG_CR2, 0x1111)
    uc2.emu_start(0x2000, 0)
    assert uc2.reg_read(X.UC_X86_REG_CR2) == 0x1111
    assert uc2.reg_read(X.UC_X86_REG_EIP) == 0x2003


def test_a_page_fault_reaches_the_intr_hook_with_cr2_and_qemus_error_code():
    from emulator.engine_state import exception_error_code
    # mov dword [0x300000], 7 with the page read-only and CR0.WP: P|W = 3
    uc = paged_engine(bytes.fromhex("c7050000300007000000f4"),
                      pte=lambda i: (i << 12) | (1 if i == 0x300 else 3), cr0=0x80010011)
    seen = []
    uc.hook_add(unicorn.UC_HOOK_INTR, lambda u, n, d: (
        seen.append((n, u.reg_read(X.UC_X86_REG_CR2), exception_error_code(u))), u.emu_stop()))
    uc.emu_start(0x2000, 0x200b)
    assert seen == [(14, 0x300000, 3)]
    assert uc.reg_read(X.UC_X86_REG_EIP) == 0x2000      # a fault: at the instruction


def test_icebp_is_an_invalid_instruction_to_unicorn():
    uc = unicorn.Uc(unicorn.UC_ARCH_X86, unicorn.UC_MODE_32)
    uc.mem_map(0, 0x2000)
    uc.mem_write(0x1000, b"\x90\xf1\x90")
    try:
        uc.emu_start(0x1000, 0x1003)
        raised = None
    except unicorn.UcError as e:
        raised = e.errno
    assert raised == unicorn.UC_ERR_INSN_INVALID
    assert uc.reg_read(X.UC_X86_REG_EIP) == 0x1001


def test_a_cpuid_hook_that_returns_1_replaces_the_engines_answer():
    uc = unicorn.Uc(unicorn.UC_ARCH_X86, unicorn.UC_MODE_32)
    uc.mem_map(0, 0x2000)
    uc.mem_write(0x1000, b"\x0f\xa2")
    uc.hook_add(unicorn.UC_HOOK_INSN, lambda u, d: (u.reg_write(X.UC_X86_REG_EAX, 7), 1)[1],
                None, 1, 0, X.UC_X86_INS_CPUID)
    uc.reg_write(X.UC_X86_REG_EBX, 0x55)
    uc.emu_start(0x1000, 0x1002)
    assert uc.reg_read(X.UC_X86_REG_EAX) == 7
    assert uc.reg_read(X.UC_X86_REG_EBX) == 0x55          # untouched: the engine's CPUID skipped
    fresh = unicorn.Uc(unicorn.UC_ARCH_X86, unicorn.UC_MODE_32)
    assert fresh.reg_read(X.UC_X86_REG_CR4) == 0x50200    # hence the machine resets CR4 to 0


def test_a_segment_write_is_checked_against_the_cpl_and_real_mode_ss_makes_it_0():
    # why Cpu.set_cpl loads SS in real mode before a ring-3 to ring-0 delivery
    import struct
    uc = unicorn.Uc(unicorn.UC_ARCH_X86, unicorn.UC_MODE_32)
    uc.mem_map(0, 0x10000)
    gdt = struct.pack("<5Q", 0, 0x00cf9a000000ffff, 0x00cf92000000ffff,
                      0x00cffa000000ffff, 0x00cff2000000ffff)
    uc.mem_write(0x500, gdt)
    uc.reg_write(X.UC_X86_REG_GDTR, (0, 0x500, len(gdt) - 1, 0))
    uc.reg_write(X.UC_X86_REG_CR0, 0x11)
    uc.reg_write(X.UC_X86_REG_EFLAGS, 2 | (1 << 17))        # VM: SS loads with DPL 3
    uc.reg_write(X.UC_X86_REG_SS, 0)
    uc.reg_write(X.UC_X86_REG_EFLAGS, 2)
    uc.reg_write(X.UC_X86_REG_CS, 0x1b)
    uc.reg_write(X.UC_X86_REG_SS, 0x23)                    # now in ring 3
    try:
        uc.reg_write(X.UC_X86_REG_CS, 0x08)
        refused = False
    except unicorn.UcError:
        refused = True
    assert refused
    uc.reg_write(X.UC_X86_REG_CR0, 0x10)                   # real mode: SS gets DPL 0
    uc.reg_write(X.UC_X86_REG_SS, 0x23)
    uc.reg_write(X.UC_X86_REG_CR0, 0x11)
    uc.reg_write(X.UC_X86_REG_CS, 0x08)
    uc.reg_write(X.UC_X86_REG_SS, 0x10)
    assert uc.reg_read(X.UC_X86_REG_CS) == 0x08 and uc.reg_read(X.UC_X86_REG_SS) == 0x10


def test_mov_to_cr4_accepts_a_reserved_bit():
    # why emulator/crwrite.py hooks mov to CR0/CR4
    uc = unicorn.Uc(unicorn.UC_ARCH_X86, unicorn.UC_MODE_32)
    uc.mem_map(0, 0x2000)
    uc.mem_write(0x1000, bytes.fromhex("0f22e0"))          # mov cr4, eax
    seen = []
    uc.hook_add(unicorn.UC_HOOK_INTR, lambda u, n, d: (seen.append(n), u.emu_stop()))
    uc.reg_write(X.UC_X86_REG_EAX, 1 << 15)
    uc.emu_start(0x1000, 0x1003)
    assert seen == [] and uc.reg_read(X.UC_X86_REG_CR4) & (1 << 15)


def test_rdtsc_and_rdtscp_reach_an_insn_hook_at_the_instruction_and_a_nonzero_return_skips_them():
    """emulator/tsc.py relies on this: the C library calls UC_HOOK_INSN for
    RDTSC/RDTSCP (the binding's hook_add refuses them, hence its own
    registration call), EIP is at the instruction, and returning non-zero
    keeps the registers the hook wrote instead of the host's TSC."""
    from emulator.tsc import register_insn_hook
    uc, img = engine("start:\n    rdtsc\n    rdtscp\n    hlt\n")
    try:
        uc.hook_add(unicorn.UC_HOOK_INSN, lambda *a: 1, None, 1, 0, X.UC_X86_INS_RDTSC)
        refused = False
    except unicorn.UcError:
        refused = True
    assert refused                   # the binding's table has no RDTSC (unicorn 2.1.4)
    seen = []

    def hook(u):
        seen.append(u.reg_read(X.UC_X86_REG_EIP))
        u.reg_write(X.UC_X86_REG_EAX, 0x1000 + len(seen))
        u.reg_write(X.UC_X86_REG_EDX, 0x77)
        u.reg_write(X.UC_X86_REG_ECX, 0x55)
        return 1
    register_insn_hook(uc, hook, X.UC_X86_INS_RDTSC)
    register_insn_hook(uc, hook, X.UC_X86_INS_RDTSCP)
    start = img.symbols["start"].value
    uc.emu_start(start, start + 5)
    assert seen == [start, start + 2]
    assert (uc.reg_read(X.UC_X86_REG_EAX), uc.reg_read(X.UC_X86_REG_EDX),
            uc.reg_read(X.UC_X86_REG_ECX)) == (0x1002, 0x77, 0x55)


def _ring3_engine(code: bytes):
    """CPL 3, IOPL 0, TR a 32-bit busy TSS whose I/O map refuses every port."""
    import struct
    uc = unicorn.Uc(unicorn.UC_ARCH_X86, unicorn.UC_MODE_32)
    uc.mem_map(0, 0x10000)
    tss = bytearray(0x68) + b"\xff" * 33
    struct.pack_into("<H", tss, 0x66, 0x68)
    uc.mem_write(0x3000, bytes(tss))
    gdt = struct.pack("<5Q", 0, 0x00cf9a000000ffff, 0x00cf92000000ffff,
                      0x00cffa000000ffff, 0x00cff2000000ffff)
    uc.mem_write(0x500, gdt)
    uc.reg_write(X.UC_X86_REG_GDTR, (0, 0x500, len(gdt) - 1, 0))
    uc.reg_write(X.UC_X86_REG_CR0, 0x11)
    uc.reg_write(X.UC_X86_REG_TR, (0x28, 0x3000, len(tss) - 1, 0x8B00))
    uc.reg_write(X.UC_X86_REG_EFLAGS, 2 | (1 << 17))        # VM: SS loads with DPL 3
    uc.reg_write(X.UC_X86_REG_SS, 0)
    uc.reg_write(X.UC_X86_REG_EFLAGS, 2)                    # IOPL 0
    uc.reg_write(X.UC_X86_REG_CS, 0x1b)
    uc.reg_write(X.UC_X86_REG_SS, 0x23)
    uc.reg_write(X.UC_X86_REG_ES, 0x23)
    uc.mem_write(0x1000, code)
    faults = []
    uc.hook_add(unicorn.UC_HOOK_INTR, lambda u, n, d: (faults.append(n), u.emu_stop()))
    return uc, faults


def test_io_at_cpl_3_above_iopl_is_not_checked_against_the_tss_map():
    # why emulator/ioperm.py checks in the machine's port hooks
    uc, faults = _ring3_engine(b"\xfa")                     # cli
    uc.emu_start(0x1000, 0x1001)
    assert faults == [13]                                   # CPL 3 > IOPL 0 indeed
    for hooked in (False, True):
        uc, faults = _ring3_engine(b"\xe6\x80\xe4\x81")        # out 0x80, al; in al, 0x81
        seen = []
        if hooked:
            uc.hook_add(unicorn.UC_HOOK_INSN, lambda u, p, s, v, d: seen.append(p),
                        None, 1, 0, X.UC_X86_INS_OUT)
            uc.hook_add(unicorn.UC_HOOK_INSN, lambda u, p, s, d: (seen.append(p), 0)[1],
                        None, 1, 0, X.UC_X86_INS_IN)
        uc.emu_start(0x1000, 0x1004)
        assert faults == [] and uc.reg_read(X.UC_X86_REG_EIP) == 0x1004
        assert seen == ([0x80, 0x81] if hooked else [])


def test_ins_stores_zero_at_its_destination_before_its_hook_runs():
    # why a refused ins leaves 0 there (emulator/ioperm.py)
    uc, _ = _ring3_engine(bytes.fromhex("bf00200000") + b"\x6c")   # mov edi, 0x2000; insb
    uc.mem_write(0x2000, b"\xaa")
    at_hook = []

    def hook(u, port, size, d):
        at_hook.append(bytes(u.mem_read(0x2000, 1)))
        return 0x77
    uc.hook_add(unicorn.UC_HOOK_INSN, hook, None, 1, 0, X.UC_X86_INS_IN)
    uc.emu_start(0x1000, 0x1006)
    assert at_hook == [b"\x00"] and bytes(uc.mem_read(0x2000, 1)) == b"\x77"
