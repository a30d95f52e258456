# testdev.S — the irqlab test device driver (ports TESTDEV..+7, IRQ 5).
# Only irqlab has the device (QEMU's PC leaves the range unclaimed):
# the scenarios that feed it packets (storm, and nested and soak on top of
# what they do on both machines) inject them (scenarios/NAME.inject).
#
# testdev_start: IRQ 5 at IPL_VM (drv_testdev: the model and MPSAFE the
#     build gives the driver), FIFO flushed, interrupt enabled.
# testdev_intr (the top half, any model): drains the FIFO into td_ring
#     (the lock-free ring: it never blocks), then hands the rest on
#     (intr_bottom: a soft interrupt in the classic and hybrid models, at
#     once in the ithread and threaded ones, which run as a thread already).
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
        mov esi, drv_testdev
        call intr_establish
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
.if BUG_RING_PUBLISH_EARLY || BUG_TX_COUNT_NO_IPL
        call td_tx_send                  # the interrupt also means "ready to send"
.endif
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
        mov ebx, TESTDEV_IRQ
        call intr_bottom                 # the rest: now, or in a soft interrupt
        pop edx
        pop ebx
        ret

testdev_bottom:
        push ebx
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

.if BUG_RING_PUBLISH_EARLY || BUG_TX_COUNT_NO_IPL
# Only in the kernels of two planted bugs (bugs.py), which need a ring whose
# producer is a thread: td_tx_post(EAX = word), thread context, IF=1,
# IPL_NONE, queues a word for the device; td_tx_send, in the interrupt
# handler (and once by biglock at its end, IF=0, for what no interrupt
# sent), "sends" every queued word (adds it to td_tx_sum) and counts it
# off td_tx_inflight.  Clobbers EAX.
td_tx_post:
        push ebx
        push ecx
        mov ebx, td_txring
        call ring_put
.if BUG_TX_COUNT_NO_IPL
        mov ecx, [td_tx_inflight]        # BUG: read, then written back, at IPL_NONE:
        inc ecx                          # a send counted off in between is lost
        mov [td_tx_inflight], ecx
.else
        inc dword ptr [td_tx_inflight]   # one instruction: no interrupt splits it
.endif
        pop ecx
        pop ebx
        ret

td_tx_send:
        push ebx
        mov ebx, td_txring
1:      call ring_get
        jc 2f
        add [td_tx_sum], eax
        dec dword ptr [td_tx_inflight]
        jmp 1b
2:      pop ebx
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
        DRIVER testdev, TESTDEV_IRQ, IPL_VM, testdev_intr, testdev_bottom, TESTDEV_MODEL, TESTDEV_MPSAFE
        MUTEX td_lock, MUTEX_ADAPTIVE, IPL_NONE
        MUTEX td_stat, MUTEX_SPIN, IPL_VM
        .align 4
td_intr_count:   .long 0
td_bottom_count: .long 0
td_received:     .long 0
td_sum:          .long 0
td_busy:         .long 0
td_present:      .long 0
.if BUG_RING_PUBLISH_EARLY || BUG_TX_COUNT_NO_IPL
td_tx_sum:       .long 0
td_tx_inflight:  .long 0
.endif
        .bss
        .align 16
td_ring: .space RING_SIZE
.if BUG_RING_PUBLISH_EARLY || BUG_TX_COUNT_NO_IPL
        .align 16
td_txring: .space RING_SIZE
.endif
