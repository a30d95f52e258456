# scen_soak.S — four LWPs, the clock and the keyboard controller contending
# on several mutexes in a fixed order (soak_a before soak_b; soak_c and
# kbd_lock alone: the workers poll the keyboard's ring with its bottom half)
# for SOAK_TICKS ticks (> 20 M instructions).  Workers sleep
# a tick now and then holding soak_b, so the others block on turnstiles.
# main makes the controller raise IRQ 1 every 8 ticks (kbd_raise; on irqlab
# injected test-device packets add IRQ 5s).  Passes when every shared
# counter equals the sum of the workers' own counts.
        .include "kernel.inc"

        .equ SOAK_TICKS, 210             # x 99.7 us = 21 M instructions
        .equ NWORKERS, 4

        .text
scen_soak:
        push ebx
.if BUG_LOCK_ORDER
        mov ebx, soak_b                  # BUG: b before a, against the workers' order
        call mutex_enter
        mov ebx, soak_a
        call mutex_enter
        call mutex_exit
        mov ebx, soak_b
        call mutex_exit
.endif
        xor ebx, ebx
1:      mov eax, soak_worker
        mov edx, ebx
        mov ecx, PRI_KTHREAD
        push ebx
        mov ebx, name_soaker
        xor esi, esi
        call lwp_create
        pop ebx
        mov [soakers + ebx*4], eax
        call setrunnable
        inc ebx
        cmp ebx, NWORKERS
        jb 1b
        xor ebx, ebx
2:      mov edx, 1
        call tsleep
        inc ebx
        test ebx, 7
        jnz 3f
        mov al, bl
        call kbd_raise
3:      cmp ebx, SOAK_TICKS
        jb 2b
        mov dword ptr [soak_stop], 1
        xor ebx, ebx
4:      mov eax, [soakers + ebx*4]
        call lwp_wait
        inc ebx
        cmp ebx, NWORKERS
        jb 4b
        xor eax, eax                     # sum of the workers' own counts
        xor ebx, ebx
5:      add eax, [soak_local + ebx*4]
        inc ebx
        cmp ebx, NWORKERS
        jb 5b
        cmp eax, [soak_shared_ab]
        jne 9f
        cmp eax, [soak_shared_c]
        jne 9f
        PRINT msg_soak_done
        xor eax, eax
        pop ebx
        ret
9:      mov eax, msg_soak_bad
        pop ebx
        ret

# soak_worker: EAX = index
soak_worker:
        push ebx
        push esi
        mov esi, eax
1:      mov ebx, soak_a                  # the lock order: a, then b
        call mutex_enter
        mov ebx, soak_b
        call mutex_enter
        mov eax, [soak_shared_ab]        # a read-modify-write the locks protect
        inc eax
        mov [soak_shared_ab], eax
        inc dword ptr [soak_local + esi*4]
        test dword ptr [soak_local + esi*4], 63
        jnz 2f
        mov edx, 1                       # now and then sleep holding b
        call tsleep
2:      mov ebx, soak_b
        call mutex_exit
        mov ebx, soak_a
        call mutex_exit
        mov ebx, soak_c                  # try first, then wait for it
        call mutex_tryenter
        test eax, eax
        jnz 5f
        inc dword ptr [soak_try_failed]
        call mutex_enter
5:      mov eax, [soak_shared_c]
        inc eax
        mov [soak_shared_c], eax
        call mutex_exit
        test dword ptr [soak_local + esi*4], 15
        jnz 3f
        call kbd_bottom                  # poll the keyboard's ring: kbd_lock
                                         # against its interrupt's bottom half
3:      mov ecx, 200                     # some work outside the locks
4:      dec ecx
        jnz 4b
        cmp dword ptr [soak_stop], 0
        je 1b
        pop esi
        pop ebx
        ret

        .data
name_soaker:   .asciz "soaker"
msg_soak_done: .asciz "soak: counters consistent after 210 ticks\n"
msg_soak_bad:  .asciz "a shared counter lost an update"
        MUTEX soak_a, MUTEX_ADAPTIVE, IPL_NONE
        MUTEX soak_b, MUTEX_ADAPTIVE, IPL_NONE
        MUTEX soak_c, MUTEX_ADAPTIVE, IPL_NONE
        .align 4
soak_stop:      .long 0
soakers:        .long 0, 0, 0, 0
soak_local:     .long 0, 0, 0, 0
soak_shared_ab: .long 0
soak_shared_c:  .long 0
soak_try_failed: .long 0                 # mutex_tryenter found soak_c taken
