# lapic_extint.S — the 8259 pair through the BSP's LINT0 (ExtINT), 1 CPU.
#
# How a guest that never programs the APIC keeps getting the PIC's
# interrupts (QEMU: BSP LINT0 = ExtINT at reset, pic_irq_request), and the
# SDM rules around it (10.5.1, 10.8.1): ExtINT takes its vector from the
# 8259's INTA and ignores the TPR; it never enters the LAPIC's ISR, so
# only the PIC gets an EOI; a masked LINT0 keeps the PIC out; a
# software-disabled APIC still passes ExtINT through an unmasked LINT0
# (QEMU's behaviour, which irqlab follows).
# Expected output:
#   extint with tpr f0: 3 interrupts, vector 20, lapic isr 00000000
#   lint0 masked: 0 interrupts
#   apic software-disabled: 3 interrupts

        .include "lib.S"
        .equ PIC1_CMD, 0x20
        .equ PIC_EOI, 0x20
        .equ PIT_CMD, 0x43
        .equ PIT_CH0, 0x40
        .equ PIT_DIVISOR, 100        # ~11.9 kHz: a period is ~84k instructions
        .equ LINT0_EXTINT, 0x700

        .text
main:
        SET_GATE 0x20, irq0_handler
        # remap the master to 0x20, slave to 0x28, unmask IRQ0 only
        .irp v, 0x11, 0x20, 0x04, 0x01
        mov al, \v
        .if \v == 0x11
        out PIC1_CMD, al
        .else
        out PIC1_DATA, al
        .endif
        .endr
        .irp v, 0x11, 0x28, 0x02, 0x01
        mov al, \v
        .if \v == 0x11
        out 0xa0, al
        .else
        out PIC2_DATA, al
        .endif
        .endr
        mov al, 0xfe
        out PIC1_DATA, al
        mov al, 0xff
        out PIC2_DATA, al
        mov al, 0x34                 # PIT channel 0, mode 2
        out PIT_CMD, al
        mov al, PIT_DIVISOR
        out PIT_CH0, al
        xor al, al
        out PIT_CH0, al

        mov dword ptr [LAPIC_LVT_LINT0], LINT0_EXTINT
        mov dword ptr [LAPIC_TPR], 0xf0
        mov eax, 3
        call wait_ticks
        PUTS msg_extint
        mov eax, [ticks]
        call putdec
        PUTS msg_vector
        mov eax, [last_vector]
        call puthex2
        PUTS msg_isr
        mov eax, [isr_seen]
        call puthex
        call newline

        cli
        mov dword ptr [ticks], 0
        mov dword ptr [LAPIC_LVT_LINT0], LVT_MASKED | LINT0_EXTINT
        sti
        mov ecx, 300000
        call delay
        PUTS msg_masked
        mov eax, [ticks]
        call putdec
        PUTS msg_interrupts

        cli
        mov dword ptr [ticks], 0
        mov dword ptr [LAPIC_LVT_LINT0], LINT0_EXTINT
        mov dword ptr [LAPIC_SVR], SPURIOUS_VECTOR    # software-disable
        mov eax, 3
        call wait_ticks
        PUTS msg_disabled
        mov eax, [ticks]
        call putdec
        PUTS msg_interrupts
        cli
        mov al, 0xff
        out PIC1_DATA, al
        ret

# wait_ticks: halt until ticks >= EAX (leaves IF=1).
wait_ticks:
1:      cli
        cmp [ticks], eax
        jae 2f
        sti
        hlt
        jmp 1b
2:      sti
        ret

# irq0_handler: count, note the vector and the LAPIC's ISR, EOI the PIC only.
irq0_handler:
        push eax
        inc dword ptr [ticks]
        mov dword ptr [last_vector], 0x20
        mov eax, [LAPIC_ISR + 0x10]  # vectors 0x20-0x3f
        or [isr_seen], eax
        mov al, PIC_EOI
        out PIC1_CMD, al
        pop eax
        iret

        .data
        .align 4
ticks:        .long 0
last_vector:  .long 0
isr_seen:     .long 0
msg_extint:   .asciz "extint with tpr f0: "
msg_vector:   .asciz " interrupts, vector "
msg_isr:      .asciz ", lapic isr "
msg_masked:   .asciz "lint0 masked: "
msg_disabled: .asciz "apic software-disabled: "
msg_interrupts: .asciz " interrupts\n"
