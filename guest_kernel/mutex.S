# mutex.S — mutex(9): adaptive and spin mutexes on `lock cmpxchg`.
#
# A mutex is MTX_SIZE bytes (layout.py); MUTEX name, kind, ipl declares one.
# OWNER is the owning LWP | MUTEX_BIT_WAITERS.
#   mutex_enter(EBX = m): spin: raise the IPL to MTX_IPL, then spin for the
#     owner word.  adaptive: one cmpxchg; on failure mutex_vector_enter
#     spins while the owner runs on another CPU and otherwise sets the
#     waiters bit and blocks on the mutex's turnstile (turnstile.S).
#   mutex_exit(EBX = m): spin: clear, splx to the saved level.  adaptive:
#     cmpxchg owner -> 0, which fails only when the waiters bit is set;
#     then the turnstile wakes the waiters.
#   mutex_tryenter(EBX = m) -> EAX = 1 if taken.  mutex_owned -> EAX.
# All keep every register but EAX, and IF.  Adaptive mutexes may not be
# entered from hard interrupt context (interrupt LWPs may: they can block).
        .include "kernel.inc"


        .text
mutex_enter:
        cmp dword ptr [ebx + MTX_KIND], MUTEX_SPIN
        je mutex_spin_enter
        push ecx
        CURLWP ecx
        xor eax, eax
        lock cmpxchg [ebx + MTX_OWNER], ecx
        jnz mutex_vector_enter
        call mutex_acquired
        pop ecx
        ret

mutex_acquired:
obs_lock_acquire:                        # EBX = mutex, ECX = the new owner LWP
        ret

mutex_vector_enter:                      # ECX = curlwp, pushed ECX on the stack
        pushf
        push edx
1:      cli
        mov eax, [ebx + MTX_OWNER]
        test eax, eax
        jz 3f
        mov edx, eax
        and edx, ~3                      # EDX = owner
        xor eax, eax
        cmp dword ptr [edx + L_STATE], LSONPROC
        jne 2f
        cmp edx, ecx
        je 2f
        mov eax, 1                       # running elsewhere
2:
obs_lock_contend:                        # EBX = mutex, ECX = LWP, EDX = owner, EAX = owner running
        test eax, eax
        jz 4f
        sti                              # owner runs on another CPU: spin
        pause
        jmp 1b
4:      call turnstile_block             # sets the waiters bit, sleeps; 0 if it raced
        jmp 1b
3:      lock cmpxchg [ebx + MTX_OWNER], ecx   # EAX = 0: free -> ours
        jnz 1b
        pop edx
        popf
        call mutex_acquired
        pop ecx
        ret

mutex_spin_enter:
        mov eax, [ebx + MTX_IPL]
        call splraise                    # EAX = old IPL
        push ecx
        push eax
        CURLWP ecx
1:      xor eax, eax
        lock cmpxchg [ebx + MTX_OWNER], ecx
        jz 2f
obs_spin_wait:                           # EBX = mutex, ECX = LWP, EAX = the owner word
        pause                            # (each iteration: the observer says it once)
        jmp 1b
2:      pop eax
        mov [ebx + MTX_OLDIPL], eax
        call mutex_acquired
        pop ecx
        ret

mutex_tryenter:
        push ecx
        CURLWP ecx
        xor eax, eax
        lock cmpxchg [ebx + MTX_OWNER], ecx
        jnz 1f
        call mutex_acquired
        mov eax, 1
        pop ecx
        ret
1:      xor eax, eax
        pop ecx
        ret

mutex_exit:
        push ecx
        CURLWP ecx
obs_lock_release:                        # EBX = mutex, ECX = the releasing LWP
        cmp dword ptr [ebx + MTX_KIND], MUTEX_SPIN
        je 2f
        push edx
        mov eax, ecx
        xor edx, edx
        lock cmpxchg [ebx + MTX_OWNER], edx
        pop edx
        jz 1f
        call turnstile_wakeup            # waiters: clear the owner, wake them
        call yield_if_wanted             # a lent priority is gone: let them run
1:      pop ecx
        ret
2:      mov dword ptr [ebx + MTX_OWNER], 0
        mov eax, [ebx + MTX_OLDIPL]
        call splx
        pop ecx
        ret

mutex_owned:
        mov eax, [ebx + MTX_OWNER]
        and eax, ~3
        cmp eax, [cpu0 + C_CURLWP]
        sete al
        movzx eax, al
        ret
