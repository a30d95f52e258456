"""The pieces of the tiny test guests, written once: stack, IDT, 8259s, paging.

Tests of the machine and of explore assemble small Multiboot guests from
text (asm.assemble_text) and bound every run by an instruction count.
Their prologues were the same lines written out in each file; these
functions return that text, and a test joins the pieces it needs in front
of its own `main`:

    PROLOGUE = start() + idt_gates(0x40) + pic_init(0xde, 0xff) + ...

Every instruction is one line indented by four spaces and labels are not
indented, so `text.count("\\n    ")` is the number of instructions a
straight-line prologue retires (tests/emulator/explore/test_points.py reads
the virtual time at `main` that way).  The text is fixed: the same
arguments give the same bytes, so a test's guest, its addresses and its
instruction counts do not depend on who else uses these pieces.

Names follow the datasheets: the 8259A's ICW1-ICW4 and OCW1 (Intel 8259A
datasheet, "Initialization command words"), the IDT gate layout of the
Intel SDM vol. 3A 6.11 (offset 15:0, selector, flags, offset 31:16).
"""

from __future__ import annotations

STACK_TOP = 0x80000        # below the 1 MiB kernel image, inside conventional memory
CODE_SEL = 0x10            # the Multiboot loader's flat 32-bit code segment
GATE_INTR = 0x8e00         # present, DPL 0, 32-bit interrupt gate (IF cleared on entry)
GATE_SIZE = 8              # bytes per IDT descriptor

PIC1_CMD, PIC1_DATA = 0x20, 0x21   # master 8259, IRQs 0-7
PIC2_CMD, PIC2_DATA = 0xa0, 0xa1   # slave 8259, IRQs 8-15
ICW1_INIT_ICW4 = 0x11      # edge triggered, cascade, ICW4 follows
ICW3_MASTER = 4            # the slave hangs on the master's IR2
ICW3_SLAVE = 2             # the slave's cascade identity
ICW4_8086 = 1              # 8086 mode, normal (not automatic) EOI
OCW2_EOI = 0x20            # non-specific end of interrupt

PAGE_DIR, PAGE_TABLE = 0x10000, 0x11000   # identity map of 0-4 MiB (one table)
PTE_PRESENT_RW = 3


def lines(*insns: str) -> str:
    """Instructions, one per line, each indented by four spaces."""
    return "".join(f"    {i}\n" for i in insns)


def start(label: str = "start") -> str:
    """The entry label and a stack: the guest's first instruction."""
    return f"\n{label}:\n" + lines(f"mov esp, {STACK_TOP:#x}")


def idt_gates(count: int, handler: str = "handler", label: str = "fill",
              selector: int = CODE_SEL, flags: int = GATE_INTR) -> str:
    """Fill `count` gates of the table at `idt` with `handler`, then lidt [idtr]."""
    return (lines("mov edi, idt", f"mov ecx, {count:#x}")
            + f"{label}:\n"
            + lines(f"mov eax, {handler}",
                    "mov word ptr [edi], ax",
                    f"mov word ptr [edi + 2], {selector:#04x}",
                    f"mov word ptr [edi + 4], {flags:#x}",
                    "shr eax, 16",
                    "mov word ptr [edi + 6], ax",
                    f"add edi, {GATE_SIZE}",
                    f"loop {label}",
                    "lidt [idtr]"))


def idt_data(count: int, counter: bool = False, align_bss: bool = False) -> str:
    """`idtr` (and a `count` word if asked) in .data, the `count`-gate `idt` in .bss."""
    data = ("    .data\n    .align 8\n"
            f"idtr: .short {count:#x} * {GATE_SIZE} - 1\n    .long idt\n")
    if counter:
        data += "count: .long 0\n"
    bss = "    .bss\n" + ("    .align 8\n" if align_bss else "")
    return data + bss + f"idt: .space {count:#x} * {GATE_SIZE}\n"


def pic_init(master_mask: int, slave_mask: int | None = None) -> str:
    """ICW1-ICW4 to the master (vectors 0x20-0x27) and, given a mask, the
    slave (0x28-0x2f), then OCW1: each IMR set to its mask (1 = masked)."""
    both = slave_mask is not None
    out = [f"mov al, {ICW1_INIT_ICW4:#x}", f"out {PIC1_CMD:#x}, al"]
    out += [f"out {PIC2_CMD:#x}, al"] if both else []
    out += ["mov al, 0x20", f"out {PIC1_DATA:#x}, al"]                    # ICW2: vector base
    out += ["mov al, 0x28", f"out {PIC2_DATA:#x}, al"] if both else []
    out += [f"mov al, {ICW3_MASTER}", f"out {PIC1_DATA:#x}, al"]
    out += [f"mov al, {ICW3_SLAVE}", f"out {PIC2_DATA:#x}, al"] if both else []
    out += [f"mov al, {ICW4_8086}", f"out {PIC1_DATA:#x}, al"]
    out += [f"out {PIC2_DATA:#x}, al"] if both else []
    out += [f"mov al, {master_mask:#x}", f"out {PIC1_DATA:#x}, al"]       # OCW1
    out += [f"mov al, {slave_mask:#x}", f"out {PIC2_DATA:#x}, al"] if both else []
    return lines(*out)


def counting_handler(label: str = "handler") -> str:
    """An IRQ handler on the master: count += 1, non-specific EOI, iret."""
    return (f"\n{label}:\n"
            + lines("push eax",
                    "inc dword ptr [count]",
                    f"mov al, {OCW2_EOI:#x}",
                    f"out {PIC1_CMD:#x}, al",
                    "pop eax",
                    "iret"))


def identity_paging(label: str = "fill") -> str:
    """Map 0-4 MiB to itself with one page table and turn paging on (CR0.PG)."""
    return (lines(f"mov edi, {PAGE_DIR:#x}",
                  f"mov dword ptr [edi], {PAGE_TABLE:#x} + {PTE_PRESENT_RW}",
                  f"mov edi, {PAGE_TABLE:#x}",
                  f"mov eax, {PTE_PRESENT_RW}",
                  "mov ecx, 1024")
            + f"{label}:\n"
            + lines("mov [edi], eax",
                    "add eax, 0x1000",
                    "add edi, 4",
                    f"loop {label}",
                    f"mov eax, {PAGE_DIR:#x}",
                    "mov cr3, eax",
                    "mov eax, cr0",
                    "or eax, 0x80000000",
                    "mov cr0, eax"))
