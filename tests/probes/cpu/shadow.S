# shadow.S — the interrupt shadow (SDM 6.8.3): an IRQ 0 request waits with
# IF=0; `sti; cli` takes nothing (the shadow of sti covers the cli);
# `sti; nop; cli` takes it after the nop; `sti; mov ss, ax; nop` takes it
# after the mov ss (a mov ss inside sti's shadow opens no new shadow).
        .include "probe.inc"
        .include "cpu.inc"

        .text
main:
        GATE 0x20, on_irq0, INT_GATE
        call load_idt
        call pit_edge                  # IRR bit 0, line masked
        mov al, 0xfe
        out PIC1_DATA, al              # unmasked, IF still 0: pending
        sti
        cli
        SHOWV sti_cli_hits, hits
        sti
        nop
after_nop:
        cli
        SHOWV sti_nop_hits, hits
        mov eax, [ret_eip]
        cmp eax, after_nop
        sete al
        SHOW ret_after_nop

        call pit_edge
        mov ax, ss
        sti
        mov ss, ax
after_movss:
        nop
        cli
        SHOWV movss_hits, hits
        mov eax, [ret_eip]
        cmp eax, after_movss
        sete al
        SHOW ret_after_movss
        jmp done

on_irq0:
        push eax
        inc dword ptr [hits]
        mov eax, [esp + 4]
        mov [ret_eip], eax
        mov al, 0x20
        out PIC1_CMD, al
        pop eax
        iret
