# softint.S — soft interrupts, one instance per CPU: establish, schedule, run.
#
# softint_establish(EAX = soft IPL, EDX = function, ECX = argument, EBX =
#     name) -> EAX = handle.  IF any.  One entry of softint_table for each
#     of the ncpus CPUs (CPU c's copy of soft interrupt n is entry c *
#     NSOFTINT + n; the handle is CPU 0's), each with its own LWP at
#     PRI_SOFTINT bound to that CPU.
# softint_schedule(EBX = handle): any context, any IF.  Marks this CPU's
#     copy pending — the work is handed on where the interrupt came, as
#     NetBSD's softint_schedule does;  --softint thread: wakes its LWP,
#     which runs it at its soft IPL when the scheduler gets to it;
#     --softint fast (SOFTINT_FAST): the LWP stays in a pool and the pending
#     handler runs when an interrupt returns to thread level at IPL_NONE,
#     borrowing the interrupted LWP (lwp_borrow, exactly as an interrupt
#     thread does).
# The function is called with EAX = argument and may block on a mutex.
        .include "kernel.inc"

        .equ SI_CPU_STRIDE, NSOFTINT * SI_SIZE   # from one CPU's copies to the next's

        .text
softint_establish:
        push edi
        push esi
        push ebx
        push ebp
        mov edi, [softint_count]
        shl edi, 5                       # SI_SIZE = 32
        add edi, softint_table           # EDI = CPU 0's copy
        inc dword ptr [softint_count]
        push edi
        xor ebp, ebp                     # EBP = the CPU
1:      mov [edi + SI_LEVEL], eax
        mov [edi + SI_FUNC], edx
        mov [edi + SI_ARG], ecx
        mov [edi + SI_NAME], ebx
        push eax
        push ecx
        push edx
        mov eax, softint_thread
        mov edx, edi
        mov ecx, PRI_SOFTINT
        mov esi, LF_SOFTINT
        call lwp_create
        mov edx, ebp
        call lwp_place                   # bound to CPU EBP
        mov [edi + SI_LWP], eax
.if SOFTINT_FAST
        mov dword ptr [eax + L_STATE], LSPOOL
.else
        call setrunnable
.endif
        pop edx
        pop ecx
        pop eax
        add edi, SI_CPU_STRIDE
        inc ebp
        cmp ebp, [ncpus]
        jb 1b
        pop eax                          # the handle: CPU 0's copy
        pop ebp
        pop ebx
        pop esi
        pop edi
        ret

softint_schedule:
        pushf
        cli
        push ebx
        mov eax, gs:[C_ID]               # this CPU's copy
        imul eax, eax, SI_CPU_STRIDE
        add ebx, eax
obs_softint_schedule:                    # EBX = soft interrupt
        cmp dword ptr [ebx + SI_PENDING], 0
        jne 1f
        mov dword ptr [ebx + SI_PENDING], 1
.if SOFTINT_FAST
        mov dword ptr gs:[C_SOFTPEND], 1
.else
        mov eax, ebx
        call wakeup_locked
.endif
1:      pop ebx
        popf
        ret

# softint_run: EBX = soft interrupt, IF=1 at its IPL; one call of its function
softint_run:
        inc dword ptr [ebx + SI_COUNT]
obs_softint_run:                         # EBX = soft interrupt
        mov eax, [ebx + SI_ARG]
        call [ebx + SI_FUNC]
        ret

# softint_thread: the LWP of a thread soft interrupt (EAX = its copy);
# PENDING is set and tested under the scheduler's lock
softint_thread:
        mov ebx, eax
.if BUG_SOFTINT_UNLOCKED
1:      cmp dword ptr [ebx + SI_PENDING], 0  # BUG: tested with interrupts on: a
        jne 3f                           # softint_schedule between the test and the
        cli                              # sleep wakes nobody, and leaves it pending
        call sched_lock
.else
1:      cli
        call sched_lock
        cmp dword ptr [ebx + SI_PENDING], 0
        jne 2f
.endif
        mov eax, ebx
        xor edx, edx
        call sleep_on
        call sched_unlock
        jmp 1b
.if BUG_SOFTINT_UNLOCKED
3:      cli                              # (the lock the path below lets go)
        call sched_lock
.endif
2:      mov dword ptr [ebx + SI_PENDING], 0
        call sched_unlock
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
# interrupted LWP's stack: run every pending fast soft interrupt of this CPU
# by borrowing
softint_fast_dispatch:
        push ebx
        push esi
        push edi
        push ebp
1:      mov dword ptr gs:[C_SOFTPEND], 0
        mov ebx, gs:[C_ID]
        imul ebx, ebx, SI_CPU_STRIDE
        add ebx, softint_table           # EBX = this CPU's first copy
        lea ebp, [ebx + SI_CPU_STRIDE]   # EBP = past its last
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
        cmp ebx, ebp
        jb 2b
        cmp dword ptr gs:[C_SOFTPEND], 0
        jne 1b
        pop ebp
        pop edi
        pop esi
        pop ebx
        ret

softint_fast_body:                       # EBX = its copy, as its LWP, IF=1
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
softint_table: .space MAX_CPUS * NSOFTINT * SI_SIZE
