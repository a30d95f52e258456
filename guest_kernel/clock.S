# clock.S — the PIT clock: ticks, round-robin preemption, timed sleeps.
#
# clock_quiet: counter 0 in mode 0 with count 1 (it fires once, into a
#     masked line) — the BIOS's periodic tick off until clock_start.
# clock_start: IRQ 0 at IPL_SCHED (drv_clock: interrupt context in every
#     model, MPSAFE unless built otherwise), counter 0 in mode 2 (rate
#     generator) with PIT_HZ_COUNT.
# clock_intr: on every CPU (the PIT's IRQ 0 on one CPU; each CPU's LAPIC
#     timer, on line 0's vector, on several: apic.S) each tick counts the
#     CPU's C_TICKS and every QUANTUM_TICKS (C_QUANTUM) asks it for a
#     reschedule; CPU 0's ticks are the kernel's time: there it also ends
#     the timed sleeps that are due and wakes sleepers on cpu0 + C_TICKS.
        .include "kernel.inc"

        .text
clock_quiet:
        mov al, 0x30                     # counter 0, LSB then MSB, mode 0
        out PIT_CTRL, al
        mov al, 1
        out PIT_CH0, al
        xor al, al
        out PIT_CH0, al
        ret

clock_start:
        mov esi, drv_clock
        call intr_establish
        mov al, 0x34                     # counter 0, LSB then MSB, mode 2
        out PIT_CTRL, al
        mov al, PIT_HZ_COUNT & 0xff
        out PIT_CH0, al
        mov al, PIT_HZ_COUNT >> 8
        out PIT_CH0, al
        ret

clock_intr:
        pushf
        cli
        inc dword ptr gs:[C_TICKS]
        cmp dword ptr gs:[C_ID], 0
        jne 1f
        call sleepq_tick                 # the kernel's time is CPU 0's
        mov eax, cpu0 + C_TICKS
        call wakeup_locked
1:      dec dword ptr gs:[C_QUANTUM]
        jnz 2f
        mov dword ptr gs:[C_QUANTUM], QUANTUM_TICKS
        mov dword ptr gs:[C_RESCHED], 1
2:      popf
        ret

        .data
        DRIVER clock, CLOCK_IRQ, IPL_SCHED, clock_intr, 0, CLOCK_MODEL, CLOCK_MPSAFE
