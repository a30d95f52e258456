# lwp.S — LWP creation, the first run, exit, placement, and per-CPU data.
#
# lwp_create(EAX = entry, EDX = argument, ECX = priority, EBX = name,
#     ESI = flags) -> EAX = the LWP.  Any CPU, any IF.  Takes a free slot of
#     lwp_table (under the scheduler's lock) and its stack of STACK_SIZE in
#     lwp_stacks (its lowest STACK_GUARD bytes are a red zone outside
#     [L_STACK_LO, L_STACK_HI)); builds a switch frame that returns into
#     lwp_trampoline.  The LWP belongs to the creating CPU (L_CPU) and is
#     left LSIDL: the caller makes it runnable (setrunnable) or parks it
#     (interrupt LWPs).  Keeps EBX-EBP.
# lwp_reset_stack(EAX = lwp): rebuild that first frame.
# lwp_trampoline: first run of an LWP (cpu_switchto released the scheduler's
#     lock, IF=0): enables interrupts, calls entry(argument in EAX), then
#     lwp_exit.
# lwp_exit: the current LWP becomes a zombie, wakes whoever sleeps on it,
#     and switches away for good.
# lwp_wait(EAX = lwp): sleep until it has exited.
# lwp_place(EAX = lwp, EDX = CPU index): an LWP not yet runnable belongs to
#     that CPU and stays there (LF_BOUND: no other CPU steals it).  Keeps all
#     registers.
# lwp_bind(EAX = CPU index): the current LWP moves to that CPU (if it is not
#     there) and stays there.  Thread context, IF=1.  Keeps EBX-EBP.
# cpu_init(EAX = CPU index): fills its per-CPU data: itself, its ID, IPL_HIGH
#     until it runs an LWP, its interrupt stack, the quantum.  Keeps EBX-EBP.
# idle_create(EAX = CPU index) -> EAX = that CPU's idle LWP (LF_IDLE, bound,
#     LSRUN: it waits off the run queues), recorded in its C_IDLELWP.
# lwp_bootstrap: the boot flow becomes LWP 0 "main" (PRI_KTHREAD) on CPU 0,
#     and CPU 0's idle LWP is created.
        .include "kernel.inc"

        .text
cpu_init:
        push edx
        CPU_PTR edx, eax
        mov [edx + C_SELF], edx
        mov [edx + C_ID], eax
        mov dword ptr [edx + C_IPL], IPL_HIGH
        mov dword ptr [edx + C_QUANTUM], QUANTUM_TICKS
        imul eax, eax, INTRSTACK_SIZE
        add eax, intr_stacks
        mov [edx + C_INTRSTACK_LO], eax
        add eax, INTRSTACK_SIZE
        mov [edx + C_INTRSTACK_HI], eax
        pop edx
        ret

lwp_create:
        push edi
        push ebx
        SCHED_LOCK                       # slots are claimed by every CPU
        mov edi, lwp_table               # find a free slot
        xor ebx, ebx
1:      cmp dword ptr [edi + L_STATE], LSIDL
        jne 2f
        cmp dword ptr [edi + L_STACK_HI], 0
        je 3f
2:      add edi, L_SIZE
        inc ebx
        cmp ebx, NLWP
        jb 1b
        mov esi, msg_nolwp
        jmp panic
3:      mov [edi + L_ID], ebx
        mov [edi + L_ENTRY], eax
        mov [edi + L_ARG], edx
        mov [edi + L_PRIO], ecx
        mov [edi + L_BASEPRIO], ecx
        mov [edi + L_FLAGS], esi
        CURCPU eax
        mov [edi + L_CPU], eax
        mov ebx, [esp + 4]               # the name (pushed EBX, under EFLAGS)
        mov [edi + L_NAME], ebx
        mov eax, [edi + L_ID]
        shl eax, 12                      # STACK_SIZE = 4096
        add eax, lwp_stacks + STACK_GUARD   # a red zone below every stack
        mov [edi + L_STACK_LO], eax
        add eax, STACK_SIZE - STACK_GUARD
        mov [edi + L_STACK_HI], eax      # the slot is taken from here on
        mov dword ptr [edi + L_LINE], NO_LINE    # interrupt LWPs get theirs later
        mov eax, edi
        call lwp_reset_stack
        SCHED_UNLOCK
        pop ebx
        pop edi
        ret

lwp_reset_stack:
        push edx
        mov edx, [eax + L_STACK_HI]
        mov dword ptr [edx - 4], lwp_trampoline   # return address
        mov dword ptr [edx - 8], 0       # EBP
        mov dword ptr [edx - 12], 0      # EBX
        mov [edx - 16], eax              # ESI = the LWP itself
        mov dword ptr [edx - 20], 0      # EDI
        sub edx, 20
        mov [eax + L_SP], edx
        mov dword ptr [eax + L_IPL], IPL_NONE
        mov dword ptr [eax + L_SCHEDDEPTH], 0    # its first switch-in frees the lock
        pop edx
        ret

lwp_trampoline:                          # ESI = this LWP (from its first frame)
        sti
        mov eax, [esi + L_ARG]
        call [esi + L_ENTRY]
        # falls through to lwp_exit
lwp_exit:
        cli
        call sched_lock                  # held into the switch: never released here
        CURLWP esi
        mov dword ptr [esi + L_STATE], LSZOMB
        mov eax, esi
        call wakeup_locked               # lwp_wait sleeps on the LWP
        call mi_switch                   # never comes back
        mov esi, msg_zombie
        jmp panic

lwp_wait:
        push ebx
        mov ebx, eax
        SCHED_LOCK                       # test and sleep atomically
1:      cmp dword ptr [ebx + L_STATE], LSZOMB
        je 2f
        mov eax, ebx
        xor edx, edx
        call sleep_on
        jmp 1b
2:      SCHED_UNLOCK
        pop ebx
        ret

lwp_place:
        push ecx
        CPU_PTR ecx, edx
        mov [eax + L_CPU], ecx
        or dword ptr [eax + L_FLAGS], LF_BOUND
        pop ecx
        ret

lwp_bind:
        push ebx
        push ecx
        SCHED_LOCK
        CPU_PTR ecx, eax
        CURLWP ebx
        mov [ebx + L_CPU], ecx
        or dword ptr [ebx + L_FLAGS], LF_BOUND
        cmp ecx, gs:[C_SELF]
        je 1f
        mov eax, ebx                     # queued there (its CPU is told) ...
        call setrunnable
        call mi_switch                   # ... and we leave this one
1:      SCHED_UNLOCK
        pop ecx
        pop ebx
        ret

idle_create:
        push ebx
        push ecx
        push edx
        push esi
        mov edx, eax                     # EDX = the CPU index
        mov eax, idle_loop
        mov ecx, PRI_IDLE
        mov ebx, name_idle
        mov esi, LF_IDLE | LF_BOUND
        push edx
        call lwp_create
        pop edx
        call lwp_place
        mov dword ptr [eax + L_STATE], LSRUN
        CPU_PTR ecx, edx
        mov [ecx + C_IDLELWP], eax
        pop esi
        pop edx
        pop ecx
        pop ebx
        ret

lwp_bootstrap:
        pop ebp                          # our return address, on the boot stack
        mov eax, main                    # LWP 0: main (its entry is never called)
        xor edx, edx
        mov ecx, PRI_KTHREAD
        mov ebx, name_main
        xor esi, esi
        call lwp_create
        mov dword ptr [eax + L_STATE], LSONPROC
        mov gs:[C_CURLWP], eax
        mov ecx, [eax + L_STACK_HI]      # from now on, main's own stack (one
        sub ecx, 4                       # word below the top, so that ESP is
        mov esp, ecx                     # inside it even by a half-open bound)
        xor eax, eax
        call idle_create
        jmp ebp

        .data
name_main:  .asciz "main"
name_idle:  .asciz "idle"
msg_nolwp:  .asciz "out of LWPs"
msg_zombie: .asciz "zombie ran"

        .bss
        .align 64
cpu0:                                    # CPU 0's per-CPU data, then CPU 1's ...
cpus:   .space MAX_CPUS * C_SIZE
        .align 64
lwp_table:
        .space NLWP * L_SIZE
        .align 4096
lwp_stacks:
        .space NLWP * STACK_SIZE
intr_stacks:                             # one per CPU (--intr-stack separate)
        .space MAX_CPUS * INTRSTACK_SIZE
