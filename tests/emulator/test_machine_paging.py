"""The machine with paging and rings (issue 19, point 1): the run always
ends, and what the CPU cannot go on with is a report, never a hang.

Guests are assembled from text and bounded by instruction counts.
"""

from __future__ import annotations

import asm
from emulator.machine import STATUS_BUDGET, STATUS_CRASH, Machine
from tests import guests

# identity-map 0-4 MiB, IDT with every gate to `handler` (a macro per test)
PAGING = guests.start() + guests.identity_paging() + guests.idt_gates(0x41, label="gates")
DATA = "\n" + guests.idt_data(0x41, align_bss=True)


def machine(body: str) -> Machine:
    img = asm.assemble_text(PAGING + body + DATA, base=0x100000, entry="start").flat()
    m = Machine.from_bytes(img)
    m.console = lambda data: None
    return m


def test_a_page_fault_handler_that_never_fixes_it_still_ends_at_the_budget():
    # the #PF repeats for ever, but each retry and handler retires
    # instructions: virtual time goes on and --max-instructions ends it
    m = machine("""
    mov eax, [0x800000]
handler:
    add esp, 4
    iret
""")
    r = m.run(max_instructions=20_000)
    assert (r.status, r.reason) == (STATUS_BUDGET, "budget")
    assert m.clock.now == 20_000
    assert m.cpus[0].read("cr2") == 0x800000


def test_the_watchdog_reports_an_engine_that_retires_nothing(monkeypatch):
    m = machine("""
spin:
    jmp spin
handler:
    iret
""")
    monkeypatch.setattr(m.loop, "execute", lambda cpu, limit: None)
    r = m.run(max_instructions=1_000_000)
    assert (r.status, r.reason) == (STATUS_CRASH, "crash")
    assert "no guest progress" in r.report and "t=0" in r.report


def test_an_interrupt_from_ring_3_without_a_tss_is_a_triple_fault_report():
    # no ltr: TR's limit is 0, the ring-0 stack cannot be read (#TS), nor
    # can #TS's or #DF's own deliveries: shutdown, reported, status 126
    # gates DPL 3 (0xee00) on the GDT's code selector 0x08
    img = asm.assemble_text(guests.start() + """
    lgdt [gdtr]
    mov ax, 0x10
    mov ds, ax
    mov ss, ax
""" + guests.idt_gates(0x41, label="gates", selector=0x08, flags=0xee00) + """
    push 0x23
    push 0x70000
    push 2
    push 0x1b
    push user
    iret
user:
    int 0x40
handler:
    iret
    .data
    .align 8
gdt: .quad 0, 0x00cf9a000000ffff, 0x00cf92000000ffff, 0x00cffa000000ffff, 0x00cff2000000ffff
gdtr: .short 5 * 8 - 1
    .long gdt
idtr: .short 0x41 * 8 - 1
    .long idt
    .bss
    .align 8
idt: .space 0x41 * 8
""", base=0x100000, entry="start").flat()
    m = Machine.from_bytes(img)
    r = m.run(max_instructions=100_000)
    assert (r.status, r.reason) == (STATUS_CRASH, "triple-fault")
    assert "#TS" in r.report and "while delivering #DF" in r.report


def test_a_crash_report_under_paging_names_cr2_cr3_and_the_cpl():
    # #PF with no usable IDT (limit 0): #GP, #DF, shutdown
    m = machine("""
    lidt [no_idt]
    mov eax, [0x800000]
handler:
    iret
    .data
no_idt: .short 0
    .long 0
""")
    r = m.run(max_instructions=100_000)
    assert r.reason == "triple-fault"
    assert "cr2=00800000 cr3=00010000 cpl=0" in r.report
    assert "mov eax, dword ptr [0x800000]" in r.report        # EIP read through the tables


def test_a_page_mapped_outside_ram_is_a_crash_report_naming_the_page_tables():
    # PTE 0x200 (linear 0x200000) points at physical 0x7000000, past the
    # 32 MiB of RAM: Unicorn reports an unmapped read, which is a report and
    # status 126, not a hang and not a #PF (the page is present)
    m = machine("""
    mov dword ptr [0x11000 + 0x200 * 4], 0x7000000 + 3
    invlpg [0x200000]
    mov eax, [0x200010]
handler:
    iret
""")
    r = m.run(max_instructions=100_000)
    assert (r.status, r.reason) == (STATUS_CRASH, "crash")
    assert ("read of unmapped memory (the page tables map it outside the 32 MiB of RAM)"
            in r.report)
    assert m.clock.now < 100_000
