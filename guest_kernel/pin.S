# pin.S — borrowing: run an interrupt LWP on top of the interrupted one.
#
# lwp_borrow(EDI = interrupt LWP from its pool, ESI = function, EBX = its
#     argument, EDX = the IPL to run it at), IF=0, on the current LWP's stack.
#     The current LWP is pinned (LSPINNED, L_PINNED = EDI): it is not on a
#     run queue and must not run until unpinned.  Its switch frame is pushed
#     exactly as cpu_switchto would, so that if the function blocks,
#     mi_switch converts the interrupt LWP into a full thread and switches
#     straight back into this frame (sched.S).  The function runs on the
#     interrupt LWP's own stack, as that LWP, with IF=1.
#     Returns on the pinned LWP's stack, IF=0, the pinned LWP current again
#     and its IPL restored — either because the function returned (the
#     interrupt LWP goes back to its pool: LSPOOL) or because it blocked.
#     Keeps EBX, ESI, EDI, EBP; clobbers EAX, ECX, EDX.
# lwp_unpin(EDI = pinned LWP, ESI = its borrower), IF=0: mi_switch's half of
#     a conversion (the LWP may run again); keeps every register.
# Used by the ithread model (intr_ithread.S) and fast soft interrupts.
        .include "kernel.inc"

        .text
lwp_borrow:
        push ebp                         # the pinned LWP's switch frame
        push ebx
        push esi
        push edi
        CURLWP eax
        mov ecx, [cpu0 + C_IPL]
        mov [eax + L_IPL], ecx
        mov [eax + L_SP], esp
        mov [eax + L_PINNED], edi
        mov dword ptr [eax + L_STATE], LSPINNED
        mov [edi + L_BORROWED], eax
        mov dword ptr [edi + L_STATE], LSONPROC
        mov [cpu0 + C_CURLWP], edi
        inc dword ptr [edi + L_NRUN]
obs_pin:                                 # EAX = LWP pinned, EDI = the interrupt LWP
        mov esp, [edi + L_STACK_HI]      # a fresh stack each time out of the pool
        mov eax, edx
        call set_ipl
        sti
        call esi
        cli
        CURLWP edi
        mov dword ptr [edi + L_STATE], LSPOOL
        mov eax, [edi + L_BORROWED]
        test eax, eax
        jz 1f
        # never blocked: the pinned LWP simply resumes
        mov dword ptr [edi + L_BORROWED], 0
        mov dword ptr [eax + L_PINNED], 0
        mov dword ptr [eax + L_STATE], LSONPROC
        mov [cpu0 + C_CURLWP], eax
obs_unpin_return:                        # EAX = LWP unpinned and resumed, EDI = the interrupt LWP
        mov esp, [eax + L_SP]
        mov eax, [eax + L_IPL]
        call set_ipl
        pop edi
        pop esi
        pop ebx
        pop ebp
        ret
1:      # it blocked and converted: a full thread ends, back to the pool
        and dword ptr [edi + L_FLAGS], ~LF_CONVERTED
obs_ithread_pool:                        # EDI = the interrupt LWP, back in its pool
        call mi_switch                   # LSPOOL: never chosen again until borrowed
        mov esi, msg_pool
        jmp panic

# lwp_unpin(EDI = the pinned LWP, ESI = the interrupt LWP that borrowed it),
# IF=0, from mi_switch when the interrupt LWP blocks and converts: the pinned
# LWP may run again.  Keeps every register.
lwp_unpin:
        mov dword ptr [edi + L_PINNED], 0
obs_unpin:                               # EDI = LWP unpinned, ESI = the interrupt LWP
        ret

        .data
msg_pool: .asciz "pooled interrupt LWP ran"
