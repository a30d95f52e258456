# turnstile.S — blocking on an adaptive mutex, with priority lending.
#
# turnstile_block(EBX = m, ECX = curlwp), IF=0, from mutex_vector_enter:
#     sets MUTEX_BIT_WAITERS in the owner word (returns at once if the owner
#     changed meanwhile), queues the LWP on m's waiter list (MTX_WAITERS,
#     linked by L_NEXT), lends its priority to the owner if the owner's is
#     lower, and blocks (LSBLOCKED) until turnstile_wakeup.
# turnstile_wakeup(EBX = m), any IF: clears the owner, makes every waiter
#     runnable, and takes back any priority lent to the releasing LWP.
# Both keep every register but EAX.
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
        mov eax, [ebx + MTX_WAITERS]     # push ourselves on the waiter list
        mov [ecx + L_NEXT], eax
        mov [ebx + MTX_WAITERS], ecx
        mov [ecx + L_WAITLOCK], ebx
        mov eax, [ecx + L_PRIO]          # lend our priority to the owner
        cmp eax, [edx + L_PRIO]
        jbe 1f
        cmp dword ptr [edx + L_STATE], LSRUN
        jne 2f
        push eax                         # queued: move it to its new queue
        mov eax, edx
        call runq_remove
        pop eax
        mov [edx + L_PRIO], eax
        mov eax, edx
        call setrunnable
        jmp 1f
2:      mov [edx + L_PRIO], eax
1:      mov dword ptr [ecx + L_STATE], LSBLOCKED
obs_lock_block:                          # EBX = mutex, ECX = LWP, EDX = owner
        push ecx
        call mi_switch
        pop ecx
        mov dword ptr [ecx + L_WAITLOCK], 0
9:      pop edx
        ret

turnstile_wakeup:
        pushf
        cli
        push ecx
        CURLWP ecx                       # give back a lent priority first,
        mov eax, [ecx + L_BASEPRIO]      # so that the waiters outrank us
        mov [ecx + L_PRIO], eax
        mov dword ptr [ebx + MTX_OWNER], 0
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
        popf
        ret
