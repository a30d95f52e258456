# lwp.S — LWP creation, the first run, exit, and the per-CPU data.
#
# lwp_create(EAX = entry, EDX = argument, ECX = priority, EBX = name,
#     ESI = flags) -> EAX = the LWP.  Takes a free slot of lwp_table and its
#     stack of STACK_SIZE in lwp_stacks (its lowest
#     STACK_GUARD bytes are a red zone outside [L_STACK_LO, L_STACK_HI)); builds a switch frame that returns
#     into lwp_trampoline.  The LWP is left LSIDL: the caller makes it
#     runnable (setrunnable) or parks it (interrupt LWPs).  Keeps EBX-EBP.
# lwp_reset_stack(EAX = lwp): rebuild that first frame (interrupt LWPs
#     start afresh each time they leave their pool).
# lwp_trampoline: first run of an LWP (IF=0 after cpu_switchto): enables
#     interrupts, calls entry(argument in EAX), then lwp_exit.
# lwp_exit: the current LWP becomes a zombie, wakes whoever sleeps on it,
#     and switches away for good.
# lwp_bootstrap: the boot flow becomes LWP 0 "main" (PRI_KTHREAD) and the
#     idle LWP is created.  cpu_init fills cpu0.
        .include "kernel.inc"

        .text
cpu_init:
        mov dword ptr [cpu0 + C_SELF], cpu0
        mov dword ptr [cpu0 + C_ID], 0
        mov dword ptr [cpu0 + C_IPL], IPL_HIGH
        mov dword ptr [cpu0 + C_INTRSTACK_LO], intr_stack
        mov dword ptr [cpu0 + C_INTRSTACK_HI], intr_stack + INTRSTACK_SIZE
        ret

lwp_create:
        push edi
        push ebx
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
        pop ebx
        mov [edi + L_NAME], ebx
        mov eax, [edi + L_ID]
        shl eax, 12                      # STACK_SIZE = 4096
        add eax, lwp_stacks + STACK_GUARD   # a red zone below every stack
        mov [edi + L_STACK_LO], eax
        add eax, STACK_SIZE - STACK_GUARD
        mov [edi + L_STACK_HI], eax
        mov dword ptr [edi + L_IPL], IPL_NONE
        mov dword ptr [edi + L_LINE], NO_LINE    # interrupt LWPs get theirs later
        mov eax, edi
        call lwp_reset_stack
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
        pop edx
        ret

lwp_trampoline:                          # ESI = this LWP (from its first frame)
        sti
        mov eax, [esi + L_ARG]
        call [esi + L_ENTRY]
        # falls through to lwp_exit
lwp_exit:
        cli
        CURLWP esi
        mov dword ptr [esi + L_STATE], LSZOMB
        mov eax, esi
        call wakeup_locked               # lwp_wait sleeps on the LWP
        call mi_switch                   # never comes back
        mov esi, msg_zombie
        jmp panic

# lwp_wait: EAX = an LWP; sleep until it has exited
lwp_wait:
        push ebx
        mov ebx, eax
        pushf
1:      cli                              # test and sleep atomically
        cmp dword ptr [ebx + L_STATE], LSZOMB
        je 2f
        mov eax, ebx
        xor edx, edx
        call sleep_on
        jmp 1b
2:      popf
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
        mov [cpu0 + C_CURLWP], eax
        mov ecx, [eax + L_STACK_HI]      # from now on, main's own stack (one
        sub ecx, 4                       # word below the top, so that ESP is
        mov esp, ecx                     # inside it even by a half-open bound)
        mov eax, idle_loop
        xor edx, edx
        mov ecx, PRI_IDLE
        mov ebx, name_idle
        mov esi, LF_IDLE
        call lwp_create
        mov [cpu0 + C_IDLELWP], eax
        mov dword ptr [eax + L_STATE], LSRUN
        jmp ebp

        .data
name_main:  .asciz "main"
name_idle:  .asciz "idle"
msg_nolwp:  .asciz "out of LWPs"
msg_zombie: .asciz "zombie ran"

        .bss
        .align 64
cpu0:   .space C_SIZE
        .align 64
lwp_table:
        .space NLWP * L_SIZE
        .align 4096
lwp_stacks:
        .space NLWP * STACK_SIZE
intr_stack:
        .space INTRSTACK_SIZE
