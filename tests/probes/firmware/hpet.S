# hpet.S — the HPET at 0xFED00000: capabilities, main counter, comparators
# through the IO APIC, the level status register, and legacy replacement.
#
# IA-PC HPET 1.0a and QEMU 7.2's pc machine (hw/timer/hpet.c).  One CPU, both
# 8259s masked; every interrupt comes through the IO APIC, pin 2, vector
# 0x50, physical destination APIC 0.  Expected output and why:
#   id 8086a201 period 00989680 t0 conf 00000030 cap 00000004 cmp ffffffff ffffffff
#     (vendor 8086, LEG_RT_CAP, 64-bit counter, NUM_TIM_CAP 2 = 3 timers,
#     revision 1; 10,000,000 fs = 10 ns a tick; a timer after reset: periodic
#     and 64-bit capable, may route to IO APIC input 2 only (QEMU's pc);
#     comparators reset to all ones)
#   counter 00000000 000003e8 000003f0 000003f0
#     (halted at 0 after reset; 10,005 instructions = 10,005 ns after
#     ENABLE_CNF it has counted 1000 ticks; eight more instructions, then
#     halted: it keeps 0x3f0 while halted)
#   one-shot: 1 interrupt at count 000001f4
#     (a 64-bit one-shot comparator of 500: one edge, taken at count 500)
#   periodic: 20 interrupts, comparator 00002af8
#     (a 32-bit periodic timer, VAL_SET, comparator and period 1000 ticks,
#     run until the count passes 10,500: ten periods.  QEMU's hpet_timer
#     moves the comparator on only once the count is past it, so under
#     -icount every period interrupts twice, at the comparator and one tick
#     later; the comparator ends at 11,000)
#   level, pin masked: isr 00000004, unmasked: 1 interrupt, isr 00000004 in the handler, then 00000000 remote irr 0
#     (a level timer sets GINTR_STA bit 2 and holds its line while the IO
#     APIC entry is masked; unmasked, the held level is delivered once; the
#     handler writes the bit back, which lowers the line, so the EOI leaves
#     Remote IRR 0 and nothing is delivered again)
#   deadline: isr 00000000 00000000 00000004
#     (a level timer 2, comparator 1, pin masked, enabled with the counter
#     at 0 by the instruction at clock E: its deadline is E + 10.  GINTR_STA
#     read by the instructions at E + 9, E + 10 and E + 11: the access at the
#     deadline sees the timer before it fires -- QEMU's -icount budget ends
#     with that instruction and its timers run after it)
#   same boundary: 2 interrupts
#     (edge timers 1 and 2 on pin 2, comparators 1 and 3: timer 1 fires at
#     E + 10 with IF clear and waits in the IRR; sti at E + 29, its shadow at
#     E + 30, timer 2's deadline.  At that boundary QEMU's cpu_exec takes the
#     waiting interrupt before it leaves for the timers, so timer 2's edge
#     comes while the first is in service: a second interrupt, not one
#     merged into the IRR bit the first still held)
#   legacy: pit 0 interrupts, timer 0 1 interrupts, pit again 3 interrupts
#     (LEG_RT_CNF turns the PIT's interrupt off: a 1 kHz PIT gives nothing
#     in 2.5 ms; HPET timer 0 takes over line 0 = IO APIC pin 2 and fires
#     once; leaving legacy mode lowers line 0 and turns the PIT's interrupt
#     on with OUT as of then -- low: QEMU's mode 2 is high only at the
#     terminal count -- so the PIT's next 3 terminal counts in 3.0 ms
#     interrupt and nothing else does)

        .include "lib.S"
        .include "fw.inc"
        .equ VEC, 0x50
        .equ TN_LEVEL, 0x2
        .equ TN_ENB, 0x4
        .equ TN_PERIODIC, 0x8
        .equ TN_SETVAL, 0x40
        .equ TN_32BIT, 0x100
        .equ ROUTE_PIN2, 2 << 9
        .equ PIT_CMD, 0x43
        .equ PIT_CH0, 0x40

        .text
main:
        SET_GATE VEC, handler
        PUTS msg_id
        mov eax, [HPET_ID]
        call puthex
        PUTS msg_period
        mov eax, [HPET_PERIOD]
        call puthex
        PUTS msg_t0conf
        mov eax, [HPET_T0_CONF]
        call puthex
        PUTS msg_cap
        mov eax, [HPET_T0_CAP]
        call puthex
        PUTS msg_cmp
        mov eax, [HPET_T0_CMP]
        call puthex
        call space
        mov eax, [HPET_T0_CMP_HI]
        call puthex
        call newline

        # the main counter: halted, running, halted again
        PUTS msg_counter
        mov eax, [HPET_COUNTER]
        call puthex
        call space
        mov dword ptr [HPET_CONF], 1
        mov ecx, 10000
        call delay
        mov eax, [HPET_COUNTER]
        call puthex
        call space
        mov dword ptr [HPET_CONF], 0
        mov eax, [HPET_COUNTER]
        call puthex
        call space
        mov ecx, 1000
        call delay
        mov eax, [HPET_COUNTER]
        call puthex
        call newline

        mov ecx, 2
        mov eax, VEC
        xor edx, edx
        call route

        # one-shot, 64-bit, edge
        call restart_counter
        mov dword ptr [HPET_T2_CONF], TN_ENB | ROUTE_PIN2
        mov dword ptr [HPET_T2_CMP], 500
        mov dword ptr [HPET_T2_CMP_HI], 0
        mov eax, 3000
        call run_until
        PUTS msg_oneshot
        mov eax, [count]
        call putdec
        PUTS msg_at
        mov eax, [first]
        call puthex
        call newline

        # periodic, 32-bit, VAL_SET
        call restart_counter
        mov dword ptr [HPET_T2_CONF], TN_ENB | TN_PERIODIC | TN_SETVAL | TN_32BIT | ROUTE_PIN2
        mov dword ptr [HPET_T2_CMP], 1000
        mov eax, 10500
        call run_until
        PUTS msg_periodic
        mov eax, [count]
        call putdec
        PUTS msg_comparator
        mov eax, [HPET_T2_CMP]
        call puthex
        call newline

        # level-triggered: the status bit holds the line until written back
        mov dword ptr [HPET_T2_CONF], 0
        mov ecx, 2
        mov eax, VEC | RTE_LEVEL | RTE_MASKED
        xor edx, edx
        call route
        SET_GATE VEC, level_handler
        call restart_counter
        mov dword ptr [HPET_T2_CONF], TN_ENB | TN_LEVEL | ROUTE_PIN2
        mov dword ptr [HPET_T2_CMP], 100
        mov dword ptr [HPET_T2_CMP_HI], 0
        mov dword ptr [HPET_CONF], 1
1:      cmp dword ptr [HPET_COUNTER], 200     # fires while the pin is masked
        jb 1b
        PUTS msg_level
        mov eax, [HPET_ISR]
        call puthex
        mov ecx, 2
        mov eax, VEC | RTE_LEVEL
        xor edx, edx
        call route                            # unmasked: the held line is delivered
        sti
        nop
        cli
        PUTS msg_taken
        mov eax, [count]
        call putdec
        PUTS msg_in_handler
        mov eax, [isr_seen]
        call puthex
        PUTS msg_after
        mov eax, [HPET_ISR]
        call puthex
        PUTS msg_rirr
        call remote_irr2
        call putdec
        call newline
        mov dword ptr [HPET_T2_CONF], 0
        mov dword ptr [HPET_CONF], 0
        SET_GATE VEC, handler

        # an access at a comparator's deadline: the timer has not fired yet
        mov ecx, 2
        mov eax, VEC | RTE_MASKED
        xor edx, edx
        call route
        call restart_counter
        mov dword ptr [HPET_T2_CONF], TN_ENB | TN_LEVEL | ROUTE_PIN2
        mov dword ptr [HPET_T2_CMP], 1
        mov dword ptr [HPET_T2_CMP_HI], 0
        mov dword ptr [HPET_CONF], 1          # E: the count 0, the deadline E + 10
        .rept 8
        nop
        .endr
        mov eax, [HPET_ISR]                   # E + 9
        mov ebx, [HPET_ISR]                   # E + 10, the deadline
        mov edx, [HPET_ISR]                   # E + 11
        mov dword ptr [HPET_ISR], 4           # the line falls
        mov dword ptr [HPET_T2_CONF], 0
        PUTS msg_deadline
        call puthex
        call space
        mov eax, ebx
        call puthex
        call space
        mov eax, edx
        call puthex
        call newline

        # a waiting interrupt and a comparator due at the same boundary
        mov ecx, 2
        mov eax, VEC
        xor edx, edx
        call route
        call restart_counter
        mov dword ptr [HPET_T1_CONF], TN_ENB | ROUTE_PIN2
        mov dword ptr [HPET_T1_CMP], 1
        mov dword ptr [HPET_T1_CMP_HI], 0
        mov dword ptr [HPET_T2_CONF], TN_ENB | ROUTE_PIN2
        mov dword ptr [HPET_T2_CMP], 3
        mov dword ptr [HPET_T2_CMP_HI], 0
        mov dword ptr [HPET_CONF], 1          # E: timer 1 due at E + 10, timer 2 at E + 30
        .rept 28
        nop
        .endr
        sti                                   # E + 29
        nop                                   # E + 30: the shadow, timer 2's deadline
        nop
        nop
        cli
        mov dword ptr [HPET_T1_CONF], 0
        mov dword ptr [HPET_T2_CONF], 0
        mov dword ptr [HPET_CONF], 0
        PUTS msg_same
        mov eax, [count]
        call putdec
        PUTS msg_interrupts

        # legacy replacement: the PIT (1 kHz) loses ISA line 0 to timer 0
        mov ecx, 2
        mov eax, VEC
        xor edx, edx
        call route
        mov dword ptr [HPET_CONF], 2          # LEG_RT_CNF, counter halted
        mov al, 0x34                          # PIT channel 0, mode 2, 1 kHz
        out PIT_CMD, al
        mov al, 1193 & 0xff
        out PIT_CH0, al
        mov al, 1193 >> 8
        out PIT_CH0, al
        mov dword ptr [count], 0
        sti
        mov ecx, 2500000
        call delay
        cli
        PUTS msg_legacy
        mov eax, [count]
        call putdec
        mov dword ptr [count], 0
        mov dword ptr [HPET_COUNTER], 0
        mov dword ptr [HPET_T0_CONF], TN_ENB
        mov dword ptr [HPET_T0_CMP], 100
        mov dword ptr [HPET_T0_CMP_HI], 0
        mov dword ptr [HPET_CONF], 3
        sti
        mov ecx, 5000
        call delay
        cli
        PUTS msg_timer0
        mov eax, [count]
        call putdec
        mov dword ptr [HPET_CONF], 0          # legacy off, counter halted
        mov dword ptr [count], 0
        sti
        mov ecx, 3000000
        call delay
        cli
        mov al, 0x30                          # quiet the PIT again
        out PIT_CMD, al
        mov al, 1
        out PIT_CH0, al
        xor al, al
        out PIT_CH0, al
        PUTS msg_pit_again
        mov eax, [count]
        call putdec
        PUTS msg_interrupts
        ret

# restart_counter: halt the counter, zero it, forget counted interrupts.
restart_counter:
        mov dword ptr [HPET_CONF], 0
        mov dword ptr [HPET_COUNTER], 0
        mov dword ptr [HPET_COUNTER_HI], 0
        mov dword ptr [count], 0
        mov dword ptr [first], 0
        ret

# run_until: enable the counter, take interrupts until it reaches EAX, halt it.
run_until:
        mov dword ptr [HPET_CONF], 1
        sti
1:      cmp [HPET_COUNTER], eax
        jb 1b
        cli
        mov dword ptr [HPET_CONF], 0
        ret

# remote_irr2: EAX = Remote IRR of IO APIC entry 2.
remote_irr2:
        mov eax, IOAPIC_REDTBL + 4
        call ioapic_read
        shr eax, 14
        and eax, 1
        ret

# level_handler: count, note GINTR_STA, write its bit back (the line falls), EOI.
level_handler:
        push eax
        inc dword ptr [count]
        mov eax, [HPET_ISR]
        mov [isr_seen], eax
        mov [HPET_ISR], eax
        mov dword ptr [LAPIC_EOI], 0
        pop eax
        iret

handler:
        push eax
        cmp dword ptr [count], 0
        jne 1f
        mov eax, [HPET_COUNTER]
        mov [first], eax
1:      inc dword ptr [count]
        mov dword ptr [LAPIC_EOI], 0
        pop eax
        iret

        .data
count: .long 0
first: .long 0
isr_seen: .long 0
msg_id:         .asciz "id "
msg_period:     .asciz " period "
msg_t0conf:     .asciz " t0 conf "
msg_cap:        .asciz " cap "
msg_cmp:        .asciz " cmp "
msg_counter:    .asciz "counter "
msg_oneshot:    .asciz "one-shot: "
msg_at:         .asciz " interrupt at count "
msg_periodic:   .asciz "periodic: "
msg_comparator: .asciz " interrupts, comparator "
msg_level:      .asciz "level, pin masked: isr "
msg_taken:      .asciz ", unmasked: "
msg_in_handler: .asciz " interrupt, isr "
msg_after:      .asciz " in the handler, then "
msg_rirr:       .asciz " remote irr "
msg_deadline:   .asciz "deadline: isr "
msg_same:       .asciz "same boundary: "
msg_legacy:     .asciz "legacy: pit "
msg_timer0:     .asciz " interrupts, timer 0 "
msg_pit_again:  .asciz " interrupts, pit again "
msg_interrupts: .asciz " interrupts\n"
