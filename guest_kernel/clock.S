# clock.S — the PIT clock: ticks, round-robin preemption, timed sleeps.
#
# clock_quiet: counter 0 in mode 0 with count 1 (it fires once, into a
#     masked line) — the BIOS's periodic tick off until clock_start.
# clock_start: IRQ 0 at IPL_SCHED (drv_clock: interrupt context in every
#     model, MPSAFE unless built otherwise), counter 0 in mode 2 (rate
#     generator) with PIT_HZ_COUNT.
# clock_intr: each tick counts C_TICKS, ends due timed sleeps, wakes
#     sleepers on C_TICKS, and every QUANTUM_TICKS asks for a reschedule.
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
        inc dword ptr [cpu0 + C_TICKS]
        call sleepq_tick
        mov eax, cpu0 + C_TICKS
        call wakeup_locked
        dec dword ptr [quantum_left]
        jnz 1f
        mov dword ptr [quantum_left], QUANTUM_TICKS
        mov dword ptr [cpu0 + C_RESCHED], 1
1:      popf
        ret

        .data
        DRIVER clock, CLOCK_IRQ, IPL_SCHED, clock_intr, 0, CLOCK_MODEL, CLOCK_MPSAFE
quantum_left: .long QUANTUM_TICKS
