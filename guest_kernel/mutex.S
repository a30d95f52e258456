# mutex.S — mutex(9): adaptive and spin mutexes on `lock cmpxchg`.
#
# A mutex is MTX_SIZE bytes (layout.py); MUTEX name, kind, ipl declares one.
# OWNER is the owning LWP | MUTEX_BIT_WAITERS.
#   mutex_enter(EBX = m): spin: raise the IPL to MTX_IPL, then spin for the
#     owner word.  adaptive: one cmpxchg; on failure mutex_vector_enter
#     decides under the scheduler's lock: it spins while the owner runs on
#     another CPU and is not itself waiting for the big lock (mutex_oncpu),
#     and otherwise sets the waiters bit and blocks on the mutex's turnstile
#     (turnstile.S); obs_lock_contend says each new decision once, not once
#     per spin.
#   mutex_exit(EBX = m): spin: clear, splx to the saved level.  adaptive:
#     cmpxchg owner -> 0, which fails only when the waiters bit is set;
#     then the turnstile wakes the waiters.
#   mutex_tryenter(EBX = m) -> EAX = 1 if taken.  mutex_owned -> EAX.
# mutex_spins / mutex_blocks count the decisions to spin and the blocks.
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
        push edx
        push esi                         # ESI, EDI: the owner and the decision
        push edi                         # last said (lock.contend), none yet
        xor esi, esi
        mov edi, -1
1:      xor eax, eax
        lock cmpxchg [ebx + MTX_OWNER], ecx   # free -> ours
        jz 8f
        pushf
        cli
        call sched_lock                  # the owner's state holds still
        mov eax, [ebx + MTX_OWNER]
        test eax, eax
        jz 6f                            # released meanwhile: try again
        mov edx, eax
        and edx, ~3                      # EDX = owner
        call mutex_oncpu                 # EAX = 1: it runs, spin; 0: block
        cmp edx, esi
        jne 2f
        cmp eax, edi
        je 3f                            # the same owner, the same decision
2:      mov esi, edx
        mov edi, eax
        add [mutex_spins], eax           # (under the scheduler's lock)
obs_lock_contend:                        # EBX = mutex, ECX = LWP, EDX = owner, EAX = owner running
3:      test eax, eax
        jnz 6f
        call turnstile_block             # sets the waiters bit, sleeps; 0 if it raced
        xor esi, esi                     # woken: decide afresh
        mov edi, -1
6:      call sched_unlock
        popf                             # spin with the caller's IF
        pause
        jmp 1b
8:      pop edi
        pop esi
        pop edx
        call mutex_acquired
        pop ecx
        ret

# mutex_oncpu: EDX = the owner, ECX = curlwp -> EAX = 1 when the owner is
# running on a CPU (its CPU's current LWP) and is not spinning for the big
# lock there (NetBSD mutex_oncpu: ci_biglock_wanted), else 0: then spinning
# would only wait for it to be switched in, or for the big lock its waiter
# may hold.  Keeps every other register.
mutex_oncpu:
        xor eax, eax
        cmp edx, ecx
        je 9f                            # ourselves (a recursive enter): never spin
        push esi
        mov esi, [edx + L_CPU]
        test esi, esi
        jz 8f
        cmp [esi + C_CURLWP], edx
        jne 8f                           # not running (or borrowed by an ithread)
        cmp [esi + C_BIGWANTED], edx
        je 8f                            # running, but waiting for the big lock
        inc eax
8:      pop esi
9:      ret

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
        cmp eax, gs:[C_CURLWP]
        sete al
        movzx eax, al
        ret

        .data
        .align 4
mutex_spins:    .long 0                  # decisions to spin (mutex_vector_enter)
mutex_blocks:   .long 0                  # blocks on a turnstile (turnstile_block)
