# turnstile.S — blocking on an adaptive mutex, with priority lending.
#
# turnstile_block(EBX = m, ECX = curlwp), IF=0, with the scheduler's lock
#     (sched.S), from mutex_vector_enter:
#     sets MUTEX_BIT_WAITERS in the owner word (returns at once if the owner
#     changed meanwhile), queues the LWP on m's waiter list (MTX_WAITERS,
#     linked by L_NEXT), lends its priority along the chain of owners
#     (turnstile_lend) and blocks (LSBLOCKED) until turnstile_wakeup.
# turnstile_wakeup(EBX = m), any IF, any CPU (it takes the scheduler's
#     lock; a waiter queued on another CPU gets its reschedule IPI): clears the owner, gives the releasing
#     LWP the highest priority still lent to it (turnstile_unlend), then
#     makes every waiter runnable (a waiter that outranks it asks for a
#     reschedule).
# turnstile_lend(EAX = priority, EDX = owner), IF=0, the scheduler's lock held: raises the owner to
#     EAX if it is lower, and if that owner is itself blocked on a mutex,
#     that mutex's owner, and so on down the chain (NetBSD turnstile_block's
#     lending loop; illumos turnstile_pi_inherit); it stops at an LWP
#     already that high, at one not blocked on a mutex, or after NLWP steps
#     (a longer chain is a cycle: a deadlock, not ours to break).  A raised
#     LWP on a run queue moves to its new queue.
# turnstile_unlend(ECX = lwp), IF=0, the scheduler's lock held: its priority becomes the highest of
#     its base priority and the priorities of the LWPs blocked on mutexes
#     it owns (NetBSD turnstile_unlendpri; illumos turnstile_pi_waive): a
#     release keeps what the other mutexes' waiters still lend.  Found by
#     walking lwp_table (a blocked LWP's L_WAITLOCK names its mutex).
# All keep every register but EAX.
        .include "kernel.inc"

        .text
turnstile_block:
        push edx
        mov eax, [ebx + MTX_OWNER]
        test eax, eax
        jz 9f                            # released meanwhile: retry
        mov edx, eax
        or edx, MUTEX_BIT_WAITERS
        lock cmpxchg [ebx + MTX_OWNER], edx
        jnz 9f                           # changed meanwhile: retry
        and edx, ~3                      # EDX = owner
        inc dword ptr [mutex_blocks]
        mov eax, [ebx + MTX_WAITERS]     # push ourselves on the waiter list
        mov [ecx + L_NEXT], eax
        mov [ebx + MTX_WAITERS], ecx
        mov [ecx + L_WAITLOCK], ebx
        mov eax, [ecx + L_PRIO]          # lend our priority down the chain
        call turnstile_lend
        mov dword ptr [ecx + L_STATE], LSBLOCKED
.if BUG_UNPIN_TWICE
        push esi                         # BUG: a borrowing LWP lets the LWP it pinned
        push edi                         # go as soon as it blocks -- and mi_switch,
        mov esi, ecx                     # converting it, unpins it again
        mov edi, [ecx + L_BORROWED]
        test edi, edi
        jz 8f
        call lwp_unpin
8:      pop edi
        pop esi
.endif
obs_lock_block:                          # EBX = mutex, ECX = LWP, EDX = owner
        push ecx
        call mi_switch
        pop ecx
        mov dword ptr [ecx + L_WAITLOCK], 0
9:      pop edx
        ret

turnstile_wakeup:
        SCHED_LOCK
        push ecx
        mov dword ptr [ebx + MTX_OWNER], 0
        CURLWP ecx                       # give back what m's waiters lent first,
        call turnstile_unlend            # so that they outrank us when woken
        mov ecx, [ebx + MTX_WAITERS]
        mov dword ptr [ebx + MTX_WAITERS], 0
1:      test ecx, ecx
        jz 2f
        mov eax, ecx
        mov ecx, [ecx + L_NEXT]
obs_lock_wakeup:                         # EBX = mutex, EAX = LWP woken
        call setrunnable
        jmp 1b
2:      pop ecx
        SCHED_UNLOCK
        ret

turnstile_lend:
        push ecx
        push edx
        mov ecx, NLWP
1:      test edx, edx
        jz 9f                            # the mutex was released meanwhile
        cmp eax, [edx + L_PRIO]
        jbe 9f                           # already that high: so is the rest
        call lwp_set_prio
        cmp dword ptr [edx + L_STATE], LSBLOCKED
        jne 9f
        mov edx, [edx + L_WAITLOCK]      # blocked on a mutex: lend to its owner
        test edx, edx
        jz 9f
        mov edx, [edx + MTX_OWNER]
        and edx, ~3
        loop 1b
9:      pop edx
        pop ecx
        ret

turnstile_unlend:
        push ebx
        push edx
        mov eax, [ecx + L_BASEPRIO]
        mov ebx, lwp_table
1:      cmp dword ptr [ebx + L_STATE], LSBLOCKED
        jne 2f
        mov edx, [ebx + L_WAITLOCK]
        test edx, edx
        jz 2f
        mov edx, [edx + MTX_OWNER]
        and edx, ~3
        cmp edx, ecx
        jne 2f                           # blocked on a mutex someone else owns
        cmp eax, [ebx + L_PRIO]
        jae 2f
        mov eax, [ebx + L_PRIO]          # a higher priority still lent
2:      add ebx, L_SIZE
        cmp ebx, lwp_table + NLWP * L_SIZE
        jb 1b
        mov edx, ecx
        call lwp_set_prio
        pop edx
        pop ebx
        ret

# lwp_set_prio(EDX = lwp, EAX = priority): its effective priority; an LWP
# on a run queue moves to the queue of the new one.  Keeps every register.
lwp_set_prio:
        cmp dword ptr [edx + L_STATE], LSRUN
        jne 1f
        test dword ptr [edx + L_FLAGS], LF_IDLE
        jnz 1f                           # idle waits off the queues
        push eax
        mov eax, edx
        call runq_remove
        pop eax
        mov [edx + L_PRIO], eax
        push eax
        mov eax, edx
        call setrunnable
        pop eax
        ret
1:      mov [edx + L_PRIO], eax
        ret
