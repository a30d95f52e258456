# lapic_priority.S — task priority, processor priority, nesting and EOI (1 CPU).
#
# Self-IPIs (ICR shorthand "self") put vectors in the IRR; what the CPU
# takes follows SDM 10.8.3: a vector is delivered only if its priority class
# (vector >> 4) is above the PPR's, and PPR = TPR, or the highest in-service
# class if that is higher.  An EOI retires the highest ISR bit (10.8.5).
# Expected output:
#   tpr 50, sent 55: irr 1            (class 5 is not above 5: held)
#   took 65                           (class 6 gets through at once)
#   tpr 40: took 55                   (lowering the TPR releases it)
#   enter 70 ppr 00000070             (in service: PPR = ISR class)
#   tpr 32: ppr 00000070, tpr 85: ppr 00000085
#   sent 72: irr 1                    (same class as in service: held)
#   enter 81 isr 00010000 00000002    (class 8 nests; ISR holds 0x70, 0x81)
#   eoi: isr 00010000 00000000        (the EOI retired 0x81, the highest)
#   back in 70
#   took 72                           (after 0x70's EOI)

        .include "lib.S"

        .text
main:
        SET_GATE 0x55, took_generic
        SET_GATE 0x65, took_generic
        SET_GATE 0x72, took_generic
        SET_GATE 0x70, handler_70
        SET_GATE 0x81, handler_81
        sti
        mov dword ptr [LAPIC_TPR], 0x50
        mov eax, ICR_SELF | 0x55
        call send_ipi
        PUTS msg_tpr50
        mov eax, 0x55
        call print_irr_bit
        mov eax, ICR_SELF | 0x65
        call send_ipi
        PUTS msg_tpr40
        mov dword ptr [LAPIC_TPR], 0x40
        mov dword ptr [LAPIC_TPR], 0
        mov eax, ICR_SELF | 0x70
        call send_ipi
        ret

# print_irr_bit: print "irr B\n" where B is IRR bit EAX.
print_irr_bit:
        pushad
        mov ecx, eax
        shr eax, 5
        shl eax, 4
        mov eax, [LAPIC_IRR + eax]
        and ecx, 31
        shr eax, cl
        and eax, 1
        PUTS msg_irr
        call putdec
        call newline
        popad
        ret

# took_generic: print "took VV" (the vector from the ISR) and EOI.
took_generic:
        pushad
        PUTS msg_took
        call highest_isr
        call puthex2
        call newline
        mov dword ptr [LAPIC_EOI], 0
        popad
        iret

# highest_isr: EAX = the highest vector in service.
highest_isr:
        push ecx
        mov ecx, 7
1:      mov eax, ecx
        shl eax, 4
        mov eax, [LAPIC_ISR + eax]
        test eax, eax
        jnz 2f
        dec ecx
        jns 1b
        xor eax, eax
        pop ecx
        ret
2:      bsr eax, eax
        shl ecx, 5
        add eax, ecx
        pop ecx
        ret

handler_70:
        pushad
        PUTS msg_enter70
        mov eax, [LAPIC_PPR]
        call puthex
        call newline
        PUTS msg_tpr32
        mov dword ptr [LAPIC_TPR], 0x32
        mov eax, [LAPIC_PPR]
        call puthex
        PUTS msg_tpr85
        mov dword ptr [LAPIC_TPR], 0x85
        mov eax, [LAPIC_PPR]
        call puthex
        call newline
        mov dword ptr [LAPIC_TPR], 0
        sti                          # allow nesting
        mov eax, ICR_SELF | 0x72
        call send_ipi
        PUTS msg_sent72
        mov eax, 0x72
        call print_irr_bit
        mov eax, ICR_SELF | 0x81
        call send_ipi
        PUTS msg_back70
        cli
        mov dword ptr [LAPIC_EOI], 0
        popad
        iret                         # IF=1 again: 0x72 is taken now

handler_81:
        pushad
        PUTS msg_enter81
        call print_isr_70_81
        mov dword ptr [LAPIC_EOI], 0
        PUTS msg_eoi
        call print_isr_70_81
        popad
        iret

# print_isr_70_81: ISR words 3 (0x60-0x7f) and 4 (0x80-0x9f), newline.
print_isr_70_81:
        push eax
        mov eax, [LAPIC_ISR + 0x30]
        call puthex
        mov al, ' '
        out DEBUGCON, al
        mov eax, [LAPIC_ISR + 0x40]
        call puthex
        call newline
        pop eax
        ret

        .data
msg_tpr50:   .asciz "tpr 50, sent 55: "
msg_irr:     .asciz "irr "
msg_took:    .asciz "took "
msg_tpr40:   .asciz "tpr 40: "
msg_enter70: .asciz "enter 70 ppr "
msg_tpr32:   .asciz "tpr 32: ppr "
msg_tpr85:   .asciz ", tpr 85: ppr "
msg_sent72:  .asciz "sent 72: "
msg_enter81: .asciz "enter 81 isr "
msg_eoi:     .asciz "eoi: isr "
msg_back70:  .asciz "back in 70\n"
