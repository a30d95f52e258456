# scen_storm.S — 10,000 test-device packets at a high rate (irqlab only).
#
# scenarios/storm.inject schedules the packets.  The driver moves them from
# the device FIFO through td_ring to its bottom half; a CPU-bound LWP
# "worker" runs meanwhile.  Passes when received + device overflows =
# STORM_PACKETS and the worker made progress.  Without the device (QEMU) it
# fails at once with a reason.
        .include "kernel.inc"

        .equ STORM_PACKETS, 10000
        .equ STORM_MAX_WAIT, 400         # checks, 10 ticks apart

        .text
scen_storm:
        push ebx
        cmp dword ptr [td_present], 0
        je 7f
        mov eax, storm_worker
        xor edx, edx
        mov ecx, PRI_KTHREAD
        mov ebx, name_worker
        xor esi, esi
        call lwp_create
        call setrunnable
        mov ebx, STORM_MAX_WAIT
1:      mov edx, 10
        call tsleep
        call testdev_overflow
        add eax, [td_received]
        cmp eax, STORM_PACKETS
        jae 2f
        dec ebx
        jnz 1b
2:      mov dword ptr [storm_stop], 1
        PRINT msg_storm_rx
        mov eax, [td_received]
        call putdec
        PRINT msg_storm_ovf
        call testdev_overflow
        call putdec
        call newline
        call testdev_overflow
        add eax, [td_received]
        cmp eax, STORM_PACKETS
        jne 8f
        cmp dword ptr [storm_progress], 0
        je 9f
        xor eax, eax
        pop ebx
        ret
7:      mov eax, msg_storm_nodev
        pop ebx
        ret
8:      mov eax, msg_storm_lost
        pop ebx
        ret
9:      mov eax, msg_storm_starved
        pop ebx
        ret

storm_worker:
1:      inc dword ptr [storm_progress]
        cmp dword ptr [storm_stop], 0
        je 1b
        ret

        .data
name_worker:       .asciz "worker"
msg_storm_rx:      .asciz "storm: received "
msg_storm_ovf:     .asciz ", device overflows "
msg_storm_nodev:   .asciz "needs irqlab's test device"
msg_storm_lost:    .asciz "received + overflows != packets sent"
msg_storm_starved: .asciz "the worker made no progress"
        .align 4
storm_stop:     .long 0
storm_progress: .long 0
