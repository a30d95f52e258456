# sched.S — the scheduler's lock, per-CPU run queues, mi_switch, preemption.
#
# One lock, sched_lock_word, guards every CPU's run queues, every LWP's
# state, the sleep queue and the turnstiles.  It is taken with IF=0 only, is
# recursive on its CPU (the owner is the CPU's per-CPU data, the depth
# sched_depth) and is held across a context switch: cpu_switchto hands the
# depth on to the LWP switched in (switch.S), so another CPU can take an LWP
# only once its registers are saved.
#   sched_lock / sched_unlock: IF=0; one level more / less.  Keep every
#       register (sched_unlock: the flags too — it is followed by popf).
# Run queue p (0..NPRI-1) of each CPU is a FIFO in its per-CPU data,
# C_RUNQ_HEAD/TAIL, linked through L_NEXT, C_QLEN entries in all.  With the
# lock held (or taken here, recursively):
#   setrunnable(EAX = lwp), any IF: state RUN, on the tail of the queue of its CPU
#       (L_CPU); if it outranks what that CPU runs underneath any borrowing
#       interrupt LWPs, that CPU is asked to reschedule (C_RESCHED) — another
#       CPU by the reschedule IPI (resched_ipi, apic.S), unless asked
#       already.  Keeps all registers.
#   runq_remove(EAX = lwp on a run queue): unlink it.  Keeps all registers.
#   sched_find -> EDI = the LWP this CPU would run next, or 0: the first of
#       its own highest non-empty queue, else the first LWP not LF_BOUND in
#       the longest queue of another CPU that has one (stealing: an idle CPU
#       takes work from the busiest).  ESI = the CPU it is queued on.
#   sched_pick -> EDI = that LWP, dequeued (and moved to this CPU when
#       stolen: obs_lwp_migrate), or this CPU's idle LWP.
#   mi_switch(): the current LWP has already set its new state (and queued
#       itself if RUN).  Drops its big-lock holds, picks the next LWP — the
#       pinned one if the current LWP is a borrowing interrupt LWP that
#       blocks (it converts into a full thread) — switches, and on return
#       takes the same big-lock depth back, with the scheduler's lock let go
#       meanwhile (the big lock is never awaited holding it).  Returns with
#       the scheduler's lock at the depth it had.  Keeps EBX, ESI, EDI, EBP.
#   preempt(): IF=0: the current LWP goes to the back of its queue and
#       mi_switch (takes the lock itself).
#   yield_if_wanted(): a preemption point for thread context (not inside
#       the big lock, as intr_return_check).
# The idle loop is in idle.S.
        .include "kernel.inc"

        .text
sched_lock:
        push eax
        push ecx
        CURCPU ecx
        cmp [sched_lock_word], ecx
        je 2f                            # this CPU holds it already
1:      xor eax, eax
        lock cmpxchg [sched_lock_word], ecx
        jz 2f
        pause
        jmp 1b
2:      inc dword ptr [sched_depth]
        pop ecx
        pop eax
        ret

sched_unlock:
        pushf
        dec dword ptr [sched_depth]
        jnz 1f
        mov dword ptr [sched_lock_word], 0
1:      popf
        ret

setrunnable:
        pushf
        cli
        push ecx
        push edx
        push esi
        call sched_lock
        mov dword ptr [eax + L_STATE], LSRUN
        mov dword ptr [eax + L_WCHAN], 0
        mov dword ptr [eax + L_NEXT], 0
        mov esi, [eax + L_CPU]           # ESI = its CPU
        mov ecx, [eax + L_PRIO]
        mov edx, [esi + C_RUNQ_TAIL + ecx*4]
        test edx, edx
        jz 1f
        mov [edx + L_NEXT], eax
        jmp 2f
1:      mov [esi + C_RUNQ_HEAD + ecx*4], eax
2:      mov [esi + C_RUNQ_TAIL + ecx*4], eax
        inc dword ptr [esi + C_QLEN]
        mov edx, [esi + C_CURLWP]        # under borrowers, compare with the pinned LWP
3:      test edx, edx
        jz 4f
        cmp dword ptr [edx + L_BORROWED], 0
        je 4f
        mov edx, [edx + L_BORROWED]
        jmp 3b
4:      test edx, edx
        jz 5f
        cmp ecx, [edx + L_PRIO]
        jbe 9f
5:      cmp esi, gs:[C_SELF]
        je 6f
        cmp dword ptr [esi + C_RESCHED], 0
        jne 9f                           # asked already: its IPI is on the way
        mov dword ptr [esi + C_RESCHED], 1
        call resched_ipi                 # ESI = that CPU, EAX = the LWP
        jmp 9f
6:      mov dword ptr [esi + C_RESCHED], 1
9:      call sched_unlock
        pop esi
        pop edx
        pop ecx
        popf
        ret

runq_remove:
        push ebx
        push ecx
        push edx
        push esi
        mov esi, [eax + L_CPU]
        mov ecx, [eax + L_PRIO]
        xor ebx, ebx                     # EBX = previous LWP in the queue
        mov edx, [esi + C_RUNQ_HEAD + ecx*4]
1:      test edx, edx
        jz 9f
        cmp edx, eax
        je 2f
        mov ebx, edx
        mov edx, [edx + L_NEXT]
        jmp 1b
2:      mov edx, [eax + L_NEXT]
        test ebx, ebx
        jnz 3f
        mov [esi + C_RUNQ_HEAD + ecx*4], edx
        jmp 4f
3:      mov [ebx + L_NEXT], edx
4:      cmp [esi + C_RUNQ_TAIL + ecx*4], eax
        jne 5f
        mov [esi + C_RUNQ_TAIL + ecx*4], ebx
5:      dec dword ptr [esi + C_QLEN]
        mov dword ptr [eax + L_NEXT], 0
9:      pop esi
        pop edx
        pop ecx
        pop ebx
        ret

# runq_first: ESI = a CPU, EDX = 1 to skip LF_BOUND LWPs -> EDI = the first
# LWP of its highest non-empty queue (that qualifies), or 0.  Keeps all else.
runq_first:
        push ecx
        mov ecx, NPRI - 1
1:      mov edi, [esi + C_RUNQ_HEAD + ecx*4]
2:      test edi, edi
        jz 3f
        test edx, edx
        jz 9f
        test dword ptr [edi + L_FLAGS], LF_BOUND
        jz 9f
        mov edi, [edi + L_NEXT]          # bound to its CPU: not for us
        jmp 2b
3:      dec ecx
        jns 1b
        xor edi, edi
9:      pop ecx
        ret

sched_find:
        push eax
        push ebx
        push ecx
        push edx
        CURCPU esi
        xor edx, edx
        call runq_first                  # our own queues first
        test edi, edi
        jnz 9f
        xor eax, eax                     # EAX = the candidate, EBX = its CPU,
        xor ebx, ebx                     # ECX = the length of that CPU's queue
        xor ecx, ecx
        mov edx, 1
        mov esi, cpu0
1:      cmp esi, gs:[C_SELF]
        je 2f
        push ecx
        mov ecx, [esi + C_QLEN]
        cmp ecx, [esp]
        pop ecx
        jbe 2f                           # not longer than the best so far
        call runq_first
        test edi, edi
        jz 2f
        mov eax, edi
        mov ebx, esi
        mov ecx, [esi + C_QLEN]
2:      add esi, C_SIZE
        cmp esi, cpu0 + MAX_CPUS * C_SIZE
        jb 1b
        mov edi, eax
        mov esi, ebx
9:      pop edx
        pop ecx
        pop ebx
        pop eax
        ret

sched_pick:
        push esi
        call sched_find
        test edi, edi
        jz 8f
        mov eax, edi
        call runq_remove
        cmp esi, gs:[C_SELF]
        je 9f
        CURCPU eax                       # stolen: it moves to this CPU
        mov [edi + L_CPU], eax
obs_lwp_migrate:                         # EDI = the LWP, ESI = the CPU it leaves
        jmp 9f
8:      mov edi, gs:[C_IDLELWP]
9:      pop esi
        ret

mi_switch:
        push ebx
        push esi
        push edi
        push ebp
        CURLWP esi
        mov dword ptr gs:[C_RESCHED], 0
.if BUG_BIGLOCK_LEAK
.else
        call kernel_lock_release_all     # L_BIGSAVED = depth, now 0
.endif
        mov edi, [esi + L_BORROWED]
        test edi, edi
        jz 1f
        # a borrowing interrupt LWP blocks: it becomes a full thread and the
        # pinned LWP resumes where it was interrupted, without the run queues
        mov dword ptr [esi + L_BORROWED], 0
        or dword ptr [esi + L_FLAGS], LF_CONVERTED
        lock inc dword ptr [ithread_blocks]
obs_ithread_block:                       # ESI = interrupt LWP, EDI = the LWP it pinned
.if BUG_RESUME_PINNED
        jmp 2f                           # forgets to unpin: the pinned LWP runs pinned
.endif
        call lwp_unpin
        jmp 2f
1:      call sched_pick
        cmp edi, esi
        je 3f                            # picked ourselves again: no switch
2:      call cpu_switchto
        jmp 4f
3:      mov dword ptr [esi + L_STATE], LSONPROC
4:
.if BUG_BIGLOCK_LEAK
.else
        call mi_switch_biglock
.endif
        pop ebp
        pop edi
        pop esi
        pop ebx
        ret

# mi_switch_biglock: back from a switch, the scheduler's lock held: take the
# big-lock depth the LWP had back, with the scheduler's lock let go while it
# waits (a big-lock holder may want the scheduler's lock: no deadlock)
mi_switch_biglock:
        push ecx
        CURLWP ecx
        cmp dword ptr [ecx + L_BIGSAVED], 0
        je 9f
        mov ecx, [sched_depth]
        mov dword ptr [sched_depth], 0
        mov dword ptr [sched_lock_word], 0
        call kernel_lock_reacquire       # the same depth as before the switch
        call sched_lock
        mov [sched_depth], ecx
9:      pop ecx
        ret

preempt:
        call sched_lock
        CURLWP eax
        test dword ptr [eax + L_FLAGS], LF_IDLE
        jnz 1f                           # idle is never queued
        call setrunnable
        jmp 2f
1:      mov dword ptr [eax + L_STATE], LSRUN
2:      call mi_switch
        jmp sched_unlock

# yield_if_wanted: in thread context at IPL_NONE, switch if asked to
yield_if_wanted:
        pushf
        cli
        cmp dword ptr gs:[C_RESCHED], 0
        je 1f
        cmp dword ptr gs:[C_IPL], IPL_NONE
        jne 1f
        cmp dword ptr gs:[C_IDEPTH], 0
        jne 1f
        CURLWP eax
        cmp dword ptr [eax + L_BORROWED], 0
        jne 1f
        cmp dword ptr [eax + L_BIGLOCKS], 0
        jne 1f                           # inside the big lock: not now
        push eax
        push ecx
        push edx
        call preempt
        pop edx
        pop ecx
        pop eax
1:      popf
        ret

        .data
        .align 4
ithread_blocks: .long 0                  # borrowing LWPs that blocked (converted)
sched_lock_word: .long 0                 # the owning CPU's per-CPU data, or 0
sched_depth:    .long 0                  # the owner's depth
