# testdev.S — the irqlab test device driver (ports TESTDEV..+7, IRQ 5).
#
# testdev_start(ESI = flags, IH_MPSAFE or 0): IRQ 5 at IPL_VM, FIFO flushed,
#     interrupt enabled.
# testdev_intr (the top half, any model): drains the FIFO into td_ring
#     (the lock-free ring: it never blocks), then hands the rest on —
#     classic: schedules the soft interrupt td_softint; ithread and threaded:
#     it runs as a thread already, so it calls testdev_bottom itself.
# testdev_bottom: under the adaptive mutex td_lock, takes every word out of
#     the ring and counts it in td_received.  It may block on td_lock.
        .include "kernel.inc"

        .equ TD_DATA, TESTDEV
        .equ TD_STATUS, TESTDEV + 4
        .equ TD_CONTROL, TESTDEV + 5
        .equ TD_OVERFLOW, TESTDEV + 7
        .equ TD_NONEMPTY, 0x01
        .equ TD_IE, 0x01
        .equ TD_FLUSH, 0x80

        .text
testdev_start:
        mov ebx, TESTDEV_IRQ
        mov eax, testdev_intr
        xor edx, edx
        mov ecx, IPL_VM
        mov edi, name_td
        call intr_establish
.if MODEL == MODEL_CLASSIC
        mov eax, IPL_SOFTNET
        mov edx, testdev_bottom
        xor ecx, ecx
        mov ebx, name_tdsoft
        call softint_establish
        mov [td_softint], eax
.endif
        # presence: register 1 reads 0 here; on QEMU the range is unclaimed
        # and reads 0xff (TESTDEV is layout.py's, from the machine's device)
        mov dx, TESTDEV
        xor eax, eax
        out dx, ax
        mov dx, TESTDEV + 1
        in al, dx
        test al, al
        jnz 1f
        mov dword ptr [td_present], 1
        mov dx, TD_CONTROL
        mov al, TD_FLUSH | TD_IE
        out dx, al
1:      ret

testdev_intr:
        push ebx
        push edx
        mov ebx, td_ring
        cmp dword ptr [td_present], 0
        je 2f                            # no device (QEMU): nothing to drain
1:      mov dx, TD_STATUS
        in al, dx
        test al, TD_NONEMPTY
        jz 2f
        mov dx, TD_DATA
        in eax, dx
        call ring_put
        jmp 1b
2:      push ebx
        mov ebx, td_stat                 # a spin mutex shared with thread context
        call mutex_enter
        inc dword ptr [td_intr_count]
        call mutex_exit
        pop ebx
        mov ecx, [td_busy]               # scenarios can make the handler long
        jecxz 3f
4:      dec ecx                          # (so that other interrupts nest in it)
        jnz 4b
3:
.if BUG_STACK_OVERFLOW
        mov ecx, 240                     # BUG: recursion deeper than the stack
        call td_recurse
.endif
.if BUG_SLEEP_IN_HARDINTR
        mov ebx, td_lock                 # BUG: an adaptive mutex in hard context
        call mutex_enter
        call mutex_exit
.endif
.if MODEL == MODEL_CLASSIC
        mov ebx, [td_softint]
        call softint_schedule
.else
        call testdev_bottom
.endif
        pop edx
        pop ebx
        ret

testdev_bottom:
        push ebx
.if BUG_EMPTY_RING_UNLOCK
        mov eax, [td_ring + RING_HEAD]   # BUG: an empty ring skips the lock, but
        cmp eax, [td_ring + RING_TAIL]   # the exit it jumps to releases td_lock,
        je 2f                            # which this path never took
.endif
        mov ebx, td_lock
        call mutex_enter
        mov ebx, td_ring
1:      call ring_get
        jc 2f
        inc dword ptr [td_received]
        add [td_sum], eax
        jmp 1b
2:      inc dword ptr [td_bottom_count]
        mov ebx, td_lock
        call mutex_exit
        mov eax, td_bottom_count         # scenarios wait for the bottom half
        call wakeup
        pop ebx
        ret

.if BUG_STACK_OVERFLOW
td_recurse:                              # 16 bytes of stack per level
        push eax
        push ebx
        push edx
        dec ecx
        jz 1f
        call td_recurse
1:      pop edx
        pop ebx
        pop eax
        ret
.endif

# testdev_overflow: EAX = packets the device dropped (0 without a device)
testdev_overflow:
        cmp dword ptr [td_present], 0
        je 1f
        mov dx, TD_OVERFLOW
        in al, dx
        movzx eax, al
        ret
1:      xor eax, eax
        ret

        .data
name_td:     .asciz "testdev"
name_tdsoft: .asciz "testdev-soft"
        MUTEX td_lock, MUTEX_ADAPTIVE, IPL_NONE
.if BUG_IRQ_UNSAFE
        MUTEX td_stat, MUTEX_SPIN, IPL_NONE   # BUG: does not keep IRQ 5 out
.else
        MUTEX td_stat, MUTEX_SPIN, IPL_VM
.endif
        .align 4
td_softint:      .long 0
td_intr_count:   .long 0
td_bottom_count: .long 0
td_received:     .long 0
td_sum:          .long 0
td_busy:         .long 0
td_present:      .long 0
        .bss
        .align 16
td_ring: .space RING_SIZE
