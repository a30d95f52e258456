# sleepq.S — sleep and wakeup on wait channels, and timed sleeps.
#
# sleep_on(EAX = wchan, EDX = timeout in ticks or 0): the current LWP sleeps
#     until wakeup(wchan) or the timeout.  Call with the condition checked
#     under the scheduler's lock and still holding it (SCHED_LOCK ...
#     sleep_on ... SCHED_UNLOCK, kernel.inc), so that a wake-up from any CPU
#     cannot fall between the check and the sleep; it returns holding it
#     again.  Keeps EBX-EBP.
# tsleep: EDX ticks, no channel (a pure delay); thread context, any IF.
# wakeup(EAX = wchan): every LWP sleeping on it becomes runnable (any IF,
#     any CPU: an LWP queued on another CPU gets its reschedule IPI there).
# wakeup_locked: the same with IF=0 already.  sleepq_tick: called from CPU
#     0's clock each tick, ends the timed sleeps that are due.
# The sleep queue is the LWP table itself: a sleeper is any LWP in LSSLEEP.
# Time is CPU 0's tick count (cpu0 + C_TICKS), the one clock every CPU reads.
        .include "kernel.inc"

        .text
sleep_on:
        push ebx
        CURLWP ebx
        mov [ebx + L_WCHAN], eax
        test edx, edx
        jz 1f
        add edx, [cpu0 + C_TICKS]
1:      mov [ebx + L_WAKETIME], edx
        mov dword ptr [ebx + L_STATE], LSSLEEP
obs_sleep:                               # EBX = LWP, EAX = wait channel
        call mi_switch
        pop ebx
        ret

tsleep:
        SCHED_LOCK
        mov eax, tsleep_chan
        call sleep_on
        SCHED_UNLOCK
        ret

wakeup:
        pushf
        cli
        call wakeup_locked
        popf
        ret

wakeup_locked:
        push ebx
        push ecx
        call sched_lock
        mov ecx, eax
        mov ebx, lwp_table
1:      cmp dword ptr [ebx + L_STATE], LSSLEEP
        jne 2f
        cmp [ebx + L_WCHAN], ecx
        jne 2f
        mov eax, ebx
obs_wakeup:                              # EAX = LWP woken, ECX = wait channel
        call setrunnable
2:      add ebx, L_SIZE
        cmp ebx, lwp_table + NLWP * L_SIZE
        jb 1b
        mov eax, ecx
        call sched_unlock
        pop ecx
        pop ebx
        ret

sleepq_tick:
        push ebx
        call sched_lock
        mov ebx, lwp_table
1:      cmp dword ptr [ebx + L_STATE], LSSLEEP
        jne 2f
        mov eax, [ebx + L_WAKETIME]
        test eax, eax
        jz 2f
        cmp eax, [cpu0 + C_TICKS]
        ja 2f
        mov eax, ebx
obs_wakeup_timeout:                      # EAX = LWP whose timed sleep is over
        call setrunnable
2:      add ebx, L_SIZE
        cmp ebx, lwp_table + NLWP * L_SIZE
        jb 1b
        call sched_unlock
        pop ebx
        ret

        .data
tsleep_chan: .long 0
