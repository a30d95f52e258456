# lapic_timer.S — the LAPIC timer on 1 CPU: time base, one-shot, periodic, mask.
#
# SDM 10.5.4: the current count decrements once per (bus clock / divisor)
# tick; one-shot interrupts once at 0; periodic reloads from the initial
# count; an initial count of 0 stops the timer.  Time base: QEMU -icount
# shift=0 and irqlab both run the APIC bus at one tick per nanosecond = per
# instruction, so a 1000-instruction loop is ~1000 ticks at divide by 1, and
# a 16000-instruction loop ~1000 at divide by 16 (QEMU 7.2 measures 1001 and
# 1000; ranges, not exact counts, are printed: where a read lands inside an
# instruction is the emulator's business).
# Expected output:
#   dcr 0000000b lvt 00010040
#   ticks over 1000 insns, divide 1: in range
#   ticks over 16000 insns, divide 16: in range
#   one-shot: 1 interrupt, ccr 00000000
#   one-shot later: 1 interrupt
#   periodic: 3 interrupts, reloaded
#   masked: 0 interrupts, ccr 00000000
#   stopped by initial count 0: 0 interrupts

        .include "lib.S"
        .equ TIMER_VECTOR, 0x40
        .equ DIV1, 0xb
        .equ DIV16, 0x3

        .text
main:
        SET_GATE TIMER_VECTOR, timer_handler
        sti
        mov dword ptr [LAPIC_TIMER_DCR], DIV1
        mov dword ptr [LAPIC_LVT_TIMER], LVT_MASKED | TIMER_VECTOR
        PUTS msg_dcr
        mov eax, [LAPIC_TIMER_DCR]
        call puthex
        PUTS msg_lvt
        mov eax, [LAPIC_LVT_TIMER]
        call puthex
        call newline

        # time base: elapsed ticks over a counted loop (timer masked)
        mov ecx, 1000
        mov ebx, 995
        mov edx, 1010
        PUTS msg_base1
        call measure
        mov dword ptr [LAPIC_TIMER_DCR], DIV16
        mov ecx, 16000
        mov ebx, 990
        mov edx, 1002
        PUTS msg_base16
        call measure

        # one-shot
        mov dword ptr [LAPIC_TIMER_DCR], DIV1
        mov dword ptr [ticks], 0
        mov dword ptr [LAPIC_LVT_TIMER], TIMER_VECTOR
        mov dword ptr [LAPIC_TIMER_ICR], 100000
        mov eax, 1
        call wait_ticks
        PUTS msg_oneshot
        mov eax, [ticks]
        call putdec
        PUTS msg_ccr
        mov eax, [LAPIC_TIMER_CCR]
        call puthex
        call newline
        mov ecx, 300000
        call delay
        PUTS msg_later
        mov eax, [ticks]
        call putdec
        PUTS msg_interrupts

        # periodic: three periods, then the count must have been reloaded
        mov dword ptr [ticks], 0
        mov dword ptr [LAPIC_LVT_TIMER], LVT_PERIODIC | TIMER_VECTOR
        mov dword ptr [LAPIC_TIMER_ICR], 50000
        mov eax, 3
        call wait_ticks
        mov ecx, [LAPIC_TIMER_CCR]
        mov dword ptr [LAPIC_LVT_TIMER], LVT_MASKED | TIMER_VECTOR
        PUTS msg_periodic
        mov eax, [ticks]
        call putdec
        PUTS msg_reloaded
        cmp ecx, 45000
        jae 1f
        PUTS msg_not
1:      PUTS msg_reloaded2

        # masked: counts down, never interrupts
        mov dword ptr [ticks], 0
        mov dword ptr [LAPIC_LVT_TIMER], LVT_MASKED | TIMER_VECTOR
        mov dword ptr [LAPIC_TIMER_ICR], 1000
        mov ecx, 5000
        call delay
        PUTS msg_masked
        mov eax, [ticks]
        call putdec
        PUTS msg_ccr
        mov eax, [LAPIC_TIMER_CCR]
        call puthex
        call newline

        # an initial count of 0 stops a periodic timer
        mov dword ptr [LAPIC_LVT_TIMER], LVT_PERIODIC | TIMER_VECTOR
        mov dword ptr [LAPIC_TIMER_ICR], 1000
        mov dword ptr [LAPIC_TIMER_ICR], 0
        mov ecx, 5000
        call delay
        PUTS msg_stopped
        mov eax, [ticks]
        call putdec
        PUTS msg_interrupts
        ret

# measure: initial count 0xffffffff (masked), spin ECX, print whether the
# elapsed ticks are within [EBX, EDX].
measure:
        pushad
        mov dword ptr [LAPIC_TIMER_ICR], 0xffffffff
        mov esi, [LAPIC_TIMER_CCR]
1:      loop 1b
        mov edi, [LAPIC_TIMER_CCR]
        sub esi, edi
        cmp esi, ebx
        jb 2f
        cmp esi, edx
        ja 2f
        PUTS msg_in_range
        popad
        ret
2:      PUTS msg_out_of_range
        mov eax, esi
        call putdec
        call newline
        popad
        ret

# wait_ticks: halt until ticks >= EAX (IF=1).
wait_ticks:
1:      cli
        cmp [ticks], eax
        jae 2f
        sti
        hlt
        jmp 1b
2:      sti
        ret

timer_handler:
        inc dword ptr [ticks]
        mov dword ptr [LAPIC_EOI], 0
        iret

        .data
        .align 4
ticks:  .long 0
msg_dcr:          .asciz "dcr "
msg_lvt:          .asciz " lvt "
msg_base1:        .asciz "ticks over 1000 insns, divide 1: "
msg_base16:       .asciz "ticks over 16000 insns, divide 16: "
msg_in_range:     .asciz "in range\n"
msg_out_of_range: .asciz "OUT OF RANGE "
msg_oneshot:      .asciz "one-shot: "
msg_ccr:          .asciz " interrupt(s), ccr "
msg_later:        .asciz "one-shot later: "
msg_interrupts:   .asciz " interrupt(s)\n"
msg_periodic:     .asciz "periodic: "
msg_reloaded:     .asciz " interrupt(s), "
msg_not:          .asciz "not "
msg_reloaded2:    .asciz "reloaded\n"
msg_masked:       .asciz "masked: "
msg_stopped:      .asciz "stopped by initial count 0: "
