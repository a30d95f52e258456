# scen_biglock.S — the big lock held recursively across a sleep, and a
# handler not marked MPSAFE run while it is held.
#
# main moves to the CPU that takes IRQ 1 (lwp_bind, intr_cpu), takes the
# big lock twice (depth 2), sleeps three ticks (mi_switch
# drops both holds and takes the same depth back), checks the depth, then
# makes the keyboard controller raise IRQ 1 (kbd_raise) with IRQ 1's
# handler made not MPSAFE for the while (its flags are restored after): it
# runs under the big lock — the top half re-entering it on this CPU in
# interrupt context or in an interrupt thread that borrows main (the holder
# is the interrupted LWP), a handler thread or a soft interrupt's LWP
# taking it after main's holds were dropped by the switch (threaded; the
# bottom half of classic and hybrid).  Depth 2 again, then 0.
        .include "kernel.inc"

        .equ KBD_IH, KBD_IRQ * IH_SIZE

        .text
scen_biglock:
        push ebx
        mov eax, KBD_IRQ                 # main moves to the CPU that takes IRQ 1
        call intr_cpu
        call lwp_bind
.if BUG_RING_PUBLISH_EARLY || BUG_TX_COUNT_NO_IPL
        mov ebx, 1                       # queue 1..TX_WORDS for the device to send
1:      mov eax, ebx
        call td_tx_post
        inc ebx
        cmp ebx, TX_WORDS
        jbe 1b
.endif
        mov eax, [ih_table + KBD_IH + IH_FLAGS]
        mov [bl_flags], eax
        and dword ptr [ih_table + KBD_IH + IH_FLAGS], ~IH_MPSAFE
.if BUG_BIGLOCK_ORDER
        mov ebx, kbd_lock                # BUG: kbd_lock, then the big lock; the
        call mutex_enter                 # handler below takes the big lock, then
        call kernel_lock                 # kbd_lock (ABBA: a deadlock on two CPUs)
        call kernel_unlock_one
        call mutex_exit
.endif
        call kernel_lock
        call kernel_lock
        PRINT msg_bl_sleep
.if BUG_SPIN_THEN_SLEEP
        mov ebx, biglock_spin            # BUG: a spin mutex held across a sleep
        call mutex_enter
.endif
        mov edx, 3
        call tsleep
.if BUG_SPIN_THEN_SLEEP
        mov ebx, biglock_spin
        call mutex_exit
.endif
        CURLWP ebx
        cmp dword ptr [ebx + L_BIGLOCKS], 2
        jne 8f
        PRINT msg_bl_irq
        call kbd_raise                   # the non-MPSAFE handler
        mov eax, 1
        call wait_bottom_count
        CURLWP ebx
        cmp dword ptr [ebx + L_BIGLOCKS], 2
        jne 8f
        call kernel_unlock_one
        call kernel_unlock_one
        cmp dword ptr [kernel_lock_word + KL_COUNT], 0
        jne 9f
        mov eax, [bl_flags]              # the driver's own flags again
        mov [ih_table + KBD_IH + IH_FLAGS], eax
.if BUG_RING_PUBLISH_EARLY || BUG_TX_COUNT_NO_IPL
        pushf                            # what no IRQ 5 sent (the scenario raises
        cli                              # none itself): sent now, interrupts off
        call td_tx_send
        popf
        cmp dword ptr [td_tx_sum], TX_WORDS * (TX_WORDS + 1) / 2
        jne 7f                           # every queued word sent, once
        cmp dword ptr [td_tx_inflight], 0
        jne 6f                           # and counted off
.endif
        PRINT msg_bl_done
        xor eax, eax
        pop ebx
        ret
8:      mov eax, msg_bl_depth
        pop ebx
        ret
9:      mov eax, msg_bl_held
        pop ebx
        ret
.if BUG_RING_PUBLISH_EARLY || BUG_TX_COUNT_NO_IPL
7:      mov eax, msg_bl_tx
        pop ebx
        ret
6:      mov eax, msg_bl_inflight
        pop ebx
        ret
.endif

        .data
msg_bl_sleep: .asciz "biglock: depth 2, sleeping three ticks\n"
msg_bl_irq:   .asciz "biglock: depth 2 restored, raising IRQ 1 (not MPSAFE)\n"
msg_bl_done:  .asciz "biglock: handler ran under the big lock, depth 2 kept, released\n"
msg_bl_depth: .asciz "big-lock depth not restored"
msg_bl_held:  .asciz "big lock still held after the last release"
        MUTEX biglock_spin, MUTEX_SPIN, IPL_VM
        .align 4
bl_flags:     .long 0                     # IRQ 1's flags before the scenario
.if BUG_RING_PUBLISH_EARLY || BUG_TX_COUNT_NO_IPL
        .equ TX_WORDS, 8
msg_bl_tx:    .asciz "the words sent are not the words queued"
msg_bl_inflight: .asciz "td_tx_inflight does not count the words in flight"
.endif
