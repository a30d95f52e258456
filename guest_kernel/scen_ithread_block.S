# scen_ithread_block.S — a device interrupt whose handler needs a mutex that
# the interrupted LWP holds.
#
# LWP "holder" takes kbd_lock (adaptive) and, with interrupts enabled and
# the lock held, makes the keyboard controller raise IRQ 1 (kbd_raise: the
# interrupt comes through the PIC at once, on irqlab and QEMU alike) —
# twice: the second request arrives while the first handler still waits
# for the lock, latched in the PIC's IRR behind the line's mask, and must
# run after it, not on top.  The kbd handler's bottom half needs kbd_lock.
# ithread: the interrupt LWP borrows holder, blocks, converts; the holder
# resumes, releases, and the handler finishes and unmasks IRQ 1 (the second
# request is delivered then).  classic: the hard half only schedules the
# soft interrupt, whose LWP blocks.  threaded: the handler thread blocks
# like any thread.  main then waits for the bottom half (condition tested
# with IF=0, then sleep: no lost wake-up).
        .include "kernel.inc"

        .equ IB_BYTE, 0x5a               # what the "keyboard" sends

        .text
scen_ithread_block:
        push ebx
.if BUG_MUTEX_AS_COMPLETION
        mov ebx, ib_done                 # BUG: a mutex as a completion: main takes
        call mutex_enter                 # it, the holder releases it when done
.endif
.if BUG_SLEEP_IN_HARDINTR
        mov eax, sleepy_holder           # the holder sleeps; main is interrupted
.else
        mov eax, ib_holder
.endif
        xor edx, edx
        mov ecx, PRI_KTHREAD
        mov ebx, name_holder
        xor esi, esi
        call lwp_create
        mov [ib_holder_lwp], eax
        call setrunnable
.if BUG_SLEEP_IN_HARDINTR
        mov edx, 1
        call tsleep                      # holder now sleeps holding kbd_lock
        call kbd_raise                   # the hard handler blocks on it
        call kbd_raise
.endif
.if BUG_MUTEX_AS_COMPLETION
        mov ebx, ib_done                 # ... and main waits by taking it again
        call mutex_enter
        call mutex_exit
.endif
        mov eax, [ib_holder_lwp]
        call lwp_wait
        mov eax, 2
        call wait_bottom_count
.if BUG_LOST_WAKEUP
        # BUG: the test and the sleep are not atomic against the interrupt
        cmp dword ptr [kbd_bottom_count], 3
        jae 1f
        call kbd_raise                   # the interrupt lands in the window
        mov eax, kbd_bottom_count
        mov edx, 100                     # ... and this sleep misses its wake-up
        pushf
        cli
        call sleep_on
        popf
1:
.endif
        mov ebx, kbd_stat                # read the counters under the hard half's lock
        call mutex_enter
        mov edx, [kbd_intr_count]
        call mutex_exit
        mov ecx, 2 + BUG_LOST_WAKEUP
        cmp edx, ecx
        jne 8f
        cmp [kbd_bottom_count], ecx
        jne 8f
        mov ebx, kbd_lock
        cmp dword ptr [ebx + MTX_OWNER], 0
        jne 9f
.if KBD_MODEL == MODEL_ITHREAD || (KBD_MODEL != MODEL_THREADED && SOFTINT_FAST)
        cmp dword ptr [ithread_blocks], 1    # the borrowing LWP blocked and converted
.else
        cmp dword ptr [ithread_blocks], 0    # nothing borrows in this configuration
.endif
        jne 7f
        PRINT msg_ib_done
        xor eax, eax
        pop ebx
        ret
7:      mov eax, msg_ib_convert
        pop ebx
        ret
8:      mov eax, msg_ib_count
        pop ebx
        ret
9:      mov eax, msg_ib_held
        pop ebx
        ret

# wait_bottom_count: EAX = n; sleep until kbd_bottom_count >= n
wait_bottom_count:
        push ebx
        mov ebx, eax
1:      pushf
        cli                              # test and sleep atomically
        cmp [kbd_bottom_count], ebx
        jae 2f
        mov eax, kbd_bottom_count
        mov edx, 1000
        call sleep_on
        popf
        jmp 1b
2:      popf
        pop ebx
        ret

ib_holder:
        push ebx
        mov ebx, kbd_lock
        call mutex_enter
        PRINT msg_ib_taken
        mov al, IB_BYTE
        call kbd_raise                   # the device interrupt, lock held, IF=1
        PRINT msg_ib_back
        mov al, IB_BYTE + 1
        call kbd_raise                   # again, while its handler is still blocked
        PRINT msg_ib_again
        mov ebx, kbd_lock
        call mutex_exit
.if BUG_MUTEX_AS_COMPLETION
        mov ebx, ib_done                 # "done": lets main go on
        call mutex_exit
.endif
        pop ebx
        ret

.if BUG_SLEEP_IN_HARDINTR
sleepy_holder:
        push ebx
        mov ebx, kbd_lock
        call mutex_enter
        mov edx, 3
        call tsleep                      # adaptive holders may sleep
        mov ebx, kbd_lock
        call mutex_exit
        pop ebx
        ret
.endif

        .data
name_holder:  .asciz "holder"
msg_ib_taken: .asciz "holder: kbd_lock taken, raising IRQ 1\n"
msg_ib_back:  .asciz "holder: back from the interrupt, still holding kbd_lock\n"
msg_ib_again: .asciz "holder: raised IRQ 1 again while its handler waits\n"
msg_ib_done:  .asciz "ithread_block: the handler finished after the holder released kbd_lock\n"
msg_ib_count: .asciz "the handler did not run exactly twice"
msg_ib_convert: .asciz "wrong number of interrupt LWP conversions"
msg_ib_held:  .asciz "kbd_lock still held"
        .align 4
ib_holder_lwp: .long 0
.if BUG_MUTEX_AS_COMPLETION
        MUTEX ib_done, MUTEX_ADAPTIVE, IPL_NONE
.endif
