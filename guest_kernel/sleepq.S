# sleepq.S — sleep and wakeup on wait channels, and timed sleeps.
#
# sleep_on(EAX = wchan, EDX = timeout in ticks or 0): the current LWP sleeps
#     until wakeup(wchan) or the timeout.  Call with the condition checked
#     under IF=0 and still IF=0 (pushf/cli ... sleep_on ... popf), so that a
#     wake-up cannot fall between the check and the sleep.  Keeps EBX-EBP.
# wakeup(EAX = wchan): every LWP sleeping on it becomes runnable (any IF).
# wakeup_locked: the same with IF=0 already.  sleepq_tick: called from the
#     clock each tick, ends the timed sleeps that are due.
# The sleep queue is the LWP table itself: a sleeper is any LWP in LSSLEEP.
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

# tsleep: EDX ticks, no channel (a pure delay); IF any
tsleep:
        pushf
        cli
        mov eax, tsleep_chan
        call sleep_on
        popf
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
        pop ecx
        pop ebx
        ret

sleepq_tick:
        push ebx
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
        pop ebx
        ret

        .data
tsleep_chan: .long 0
