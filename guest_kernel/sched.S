# sched.S — run queues by priority, mi_switch, preemption, the idle loop.
#
# Run queue p (0..NPRI-1) is a FIFO linked through L_NEXT.  Everything here
# runs with IF=0 (it is the single CPU's scheduler lock).
#   setrunnable(EAX = lwp): any IF (it clears IF itself: scenarios start
#       their LWPs with interrupts on, and a clock tick inside the queue
#       update lost the LWP — found by explore).  State RUN, on the tail of
#       its queue; asks for a reschedule when it outranks what the CPU is
#       running underneath any borrowing interrupt LWPs.  Keeps all registers.
#   mi_switch(): the current LWP has already set its new state (and queued
#       itself if RUN).  Drops its big-lock holds, picks the next LWP —
#       the pinned one if the current LWP is a borrowing interrupt LWP that
#       blocks (it converts into a full thread) — switches, and on return
#       takes the same big-lock depth back.  Keeps EBX, ESI, EDI, EBP.
#   preempt(): the current LWP goes to the back of its queue and mi_switch.
#   yield_if_wanted(): a preemption point for thread context.
# The idle loop is in idle.S.
        .include "kernel.inc"

        .text
setrunnable:
        pushf
        cli
        push ecx
        push edx
        mov dword ptr [eax + L_STATE], LSRUN
        mov dword ptr [eax + L_WCHAN], 0
        mov dword ptr [eax + L_NEXT], 0
        mov ecx, [eax + L_PRIO]
        mov edx, [runq_tail + ecx*4]
        test edx, edx
        jz 1f
        mov [edx + L_NEXT], eax
        jmp 2f
1:      mov [runq_head + ecx*4], eax
2:      mov [runq_tail + ecx*4], eax
        CURLWP edx                       # under borrowers, compare with the pinned LWP
3:      cmp dword ptr [edx + L_BORROWED], 0
        je 4f
        mov edx, [edx + L_BORROWED]
        jmp 3b
4:      cmp ecx, [edx + L_PRIO]
        jbe 5f
        mov dword ptr [cpu0 + C_RESCHED], 1
5:      pop edx
        pop ecx
        popf
        ret

# runq_remove: EAX = lwp on a run queue; unlink it (for priority lending)
runq_remove:
        push ebx
        push ecx
        push edx
        mov ecx, [eax + L_PRIO]
        xor ebx, ebx                     # EBX = previous LWP in the queue
        mov edx, [runq_head + ecx*4]
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
        mov [runq_head + ecx*4], edx
        jmp 4f
3:      mov [ebx + L_NEXT], edx
4:      cmp [runq_tail + ecx*4], eax
        jne 9f
        mov [runq_tail + ecx*4], ebx
9:      pop edx
        pop ecx
        pop ebx
        ret

# sched_pick: EDI = the highest-priority runnable LWP, dequeued, or idle
sched_pick:
        mov ecx, NPRI - 1
1:      mov edi, [runq_head + ecx*4]
        test edi, edi
        jnz 2f
        dec ecx
        jns 1b
        mov edi, [cpu0 + C_IDLELWP]
        ret
2:      mov eax, [edi + L_NEXT]
        mov [runq_head + ecx*4], eax
        test eax, eax
        jnz 3f
        mov dword ptr [runq_tail + ecx*4], 0
3:      mov dword ptr [edi + L_NEXT], 0
        ret

mi_switch:
        push ebx
        push esi
        push edi
        push ebp
        CURLWP esi
        mov dword ptr [cpu0 + C_RESCHED], 0
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
        inc dword ptr [ithread_blocks]
obs_ithread_block:                       # ESI = interrupt LWP, EDI = the LWP it pinned
.if BUG_RESUME_PINNED
        jmp 2f                           # forgets to unpin: the pinned LWP runs pinned
.endif
        mov dword ptr [edi + L_PINNED], 0
obs_unpin:                               # EDI = LWP unpinned, ESI = the interrupt LWP
        jmp 2f
1:      call sched_pick
        cmp edi, esi
        je 3f                            # picked ourselves again: no switch
2:      call cpu_switchto
        jmp 4f
3:      mov dword ptr [esi + L_STATE], LSONPROC
4:      CURLWP esi
.if BUG_BIGLOCK_LEAK
.else
        call kernel_lock_reacquire       # the same depth as before the switch
.endif
        pop ebp
        pop edi
        pop esi
        pop ebx
        ret

preempt:
        CURLWP eax
        test dword ptr [eax + L_FLAGS], LF_IDLE
        jnz 1f                           # idle is never queued
        call setrunnable
        jmp mi_switch
1:      mov dword ptr [eax + L_STATE], LSRUN
        jmp mi_switch

# yield_if_wanted: in thread context at IPL_NONE, switch if asked to
yield_if_wanted:
        pushf
        cli
        cmp dword ptr [cpu0 + C_RESCHED], 0
        je 1f
        cmp dword ptr [cpu0 + C_IPL], IPL_NONE
        jne 1f
        cmp dword ptr [cpu0 + C_IDEPTH], 0
        jne 1f
        CURLWP eax
        cmp dword ptr [eax + L_BORROWED], 0
        jne 1f
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
        .bss
        .align 4
runq_head: .space NPRI * 4
runq_tail: .space NPRI * 4
