# eoi.S — an `out` that makes an interrupt deliverable takes effect at the
# very next instruction boundary: (1) unmasking a pending line with IF=1;
# (2) a non-specific EOI for IRQ 0 uncovering a waiting IRQ 1 (lower
# priority, held back while IR0 is in service).  The handlers save the
# interrupted EIP, which must be the instruction right after the `out`.
        .include "probe.inc"
        .include "cpu.inc"

        .text
main:
        GATE 0x20, on_irq0_noeoi, INT_GATE
        GATE 0x21, on_irq1, INT_GATE
        call load_idt
        call pit_edge                  # IRQ 0 waits in IRR, masked
        mov al, 0xfe
        sti
        out PIC1_DATA, al              # unmask: taken before the next instruction
after_unmask:
        inc ebx
        inc ebx
        cli
        SHOWV unmask_hits, hits
        mov eax, [ret_eip]
        cmp eax, after_unmask
        sete al
        SHOW ret_after_unmask
        # IR0 is still in service (no EOI).  Raise IRQ 1 behind it.
        mov al, 0xfc
        out PIC1_DATA, al
        call kbd_irq1
        sti
        nop
        nop
        mov byte ptr [hits], 0
        mov al, 0x20
        out PIC1_CMD, al               # EOI for IR0 uncovers IR1
after_eoi:
        inc ebx
        inc ebx
        cli
        SHOWV eoi_hits, hits
        mov eax, [ret_eip]
        cmp eax, after_eoi
        sete al
        SHOW ret_after_eoi
        in al, 0x60
        jmp done

on_irq0_noeoi:
        push eax
        inc dword ptr [hits]
        mov eax, [esp + 4]
        mov [ret_eip], eax
        pop eax
        iret

on_irq1:
        push eax
        inc dword ptr [hits]
        mov eax, [esp + 4]
        mov [ret_eip], eax
        mov al, 0x20
        out PIC1_CMD, al
        pop eax
        iret
