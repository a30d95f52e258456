# softint.S — soft interrupts: establish, schedule, run.
#
# softint_establish(EAX = soft IPL, EDX = function, ECX = argument, EBX =
#     name) -> EAX = handle.  Each has an LWP at PRI_SOFTINT.
# softint_schedule(EBX = handle): any context, any IF.  Marks it pending;
#     --softint thread: wakes its LWP, which runs it at its soft IPL when
#     the scheduler gets to it; --softint fast (SOFTINT_FAST): the LWP
#     stays in a pool and the pending handler runs when an interrupt
#     returns to thread level at IPL_NONE, borrowing the interrupted LWP
#     (lwp_borrow, exactly as an interrupt thread does).
# The function is called with EAX = argument and may block on a mutex.
        .include "kernel.inc"

        .text
softint_establish:
        push edi
        push esi
        mov edi, [softint_count]
        shl edi, 5                       # SI_SIZE = 32
        add edi, softint_table
        inc dword ptr [softint_count]
        mov [edi + SI_LEVEL], eax
        mov [edi + SI_FUNC], edx
        mov [edi + SI_ARG], ecx
        mov [edi + SI_NAME], ebx
        mov eax, softint_thread
        mov edx, edi
        mov ecx, PRI_SOFTINT
        mov esi, LF_SOFTINT
        call lwp_create
        mov [edi + SI_LWP], eax
.if SOFTINT_FAST
        mov dword ptr [eax + L_STATE], LSPOOL
.else
        call setrunnable
.endif
        mov eax, edi
        pop esi
        pop edi
        ret

softint_schedule:
        pushf
        cli
obs_softint_schedule:                    # EBX = soft interrupt
        cmp dword ptr [ebx + SI_PENDING], 0
        jne 1f
        mov dword ptr [ebx + SI_PENDING], 1
.if SOFTINT_FAST
        mov dword ptr [cpu0 + C_SOFTPEND], 1
.else
        mov eax, ebx
        call wakeup_locked
.endif
1:      popf
        ret

# softint_run: EBX = soft interrupt, IF=1 at its IPL; one call of its function
softint_run:
        inc dword ptr [ebx + SI_COUNT]
obs_softint_run:                         # EBX = soft interrupt
        mov eax, [ebx + SI_ARG]
        call [ebx + SI_FUNC]
        ret

# softint_thread: the LWP of a thread soft interrupt (EAX = handle)
softint_thread:
        mov ebx, eax
.if BUG_SOFTINT_UNLOCKED
1:      cmp dword ptr [ebx + SI_PENDING], 0  # BUG: tested with interrupts on: a
        jne 2f                           # softint_schedule between the test and the
        cli                              # sleep wakes nobody, and leaves it pending
.else
1:      cli
        cmp dword ptr [ebx + SI_PENDING], 0
        jne 2f
.endif
        mov eax, ebx
        xor edx, edx
        call sleep_on
        jmp 1b
2:      mov dword ptr [ebx + SI_PENDING], 0
        mov eax, [ebx + SI_LEVEL]
        call set_ipl
        sti
        call softint_run
        cli
        mov eax, IPL_NONE
        call set_ipl
.if BUG_SOFTINT_UNLOCKED
        sti                              # (and comes back to the test with IF=1)
.endif
        jmp 1b

# softint_fast_dispatch: IF=0, at thread level and IPL_NONE, on the
# interrupted LWP's stack: run every pending fast soft interrupt by borrowing
softint_fast_dispatch:
        push ebx
        push esi
        push edi
1:      mov dword ptr [cpu0 + C_SOFTPEND], 0
        mov ebx, softint_table
2:      cmp dword ptr [ebx + SI_PENDING], 0
        je 3f
        mov edi, [ebx + SI_LWP]
        cmp dword ptr [edi + L_STATE], LSPOOL
        jne 3f                           # still blocked from last time: it loops
        mov dword ptr [ebx + SI_PENDING], 0
        mov esi, softint_fast_body
        mov edx, [ebx + SI_LEVEL]
        call lwp_borrow
3:      add ebx, SI_SIZE
        cmp ebx, softint_table + NSOFTINT * SI_SIZE
        jb 2b
        cmp dword ptr [cpu0 + C_SOFTPEND], 0
        jne 1b
        pop edi
        pop esi
        pop ebx
        ret

softint_fast_body:                       # EBX = handle, as its LWP, IF=1
        call softint_run
        cli
        cmp dword ptr [ebx + SI_PENDING], 0
        je 1f
        mov dword ptr [ebx + SI_PENDING], 0
        sti
        jmp softint_fast_body
1:      ret

        .data
        .align 4
softint_count: .long 0
        .bss
        .align 32
softint_table: .space NSOFTINT * SI_SIZE
