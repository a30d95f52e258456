# pin.S — borrowing: run an interrupt LWP on top of the interrupted one.
#
# lwp_borrow(EDI = interrupt LWP claimed from its pool, ESI = function, EBX
#     = its argument, EDX = the IPL to run it at), IF=0, on the current LWP's
#     stack, without the scheduler's lock.  The current LWP of this CPU is
#     pinned (LSPINNED, L_PINNED = EDI): it is not on a run queue and must
#     not run, here or anywhere, until unpinned.  Its switch frame is pushed
#     exactly as cpu_switchto would (with a scheduler's-lock depth of 0), so
#     that if the function blocks, mi_switch converts the interrupt LWP into
#     a full thread and switches straight back into this frame (sched.S).
#     The function runs on the interrupt LWP's own stack, as that LWP, on
#     this CPU (L_CPU), with IF=1; it returns with IF=0, the scheduler's lock
#     held or not.  Returns on the pinned LWP's stack, IF=0, without the
#     scheduler's lock, the pinned LWP current again and its IPL restored —
#     either because the function returned (the interrupt LWP goes back to
#     its pool: LSPOOL, under the scheduler's lock, so that no other CPU
#     claims it before it is off its stack) or because it blocked.
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
        mov ecx, gs:[C_IPL]
        mov [eax + L_IPL], ecx
        mov dword ptr [eax + L_SCHEDDEPTH], 0
        mov [eax + L_SP], esp
        mov [eax + L_PINNED], edi
        mov dword ptr [eax + L_STATE], LSPINNED
        mov [edi + L_BORROWED], eax
        mov dword ptr [edi + L_STATE], LSONPROC
        CURCPU ecx
        mov [edi + L_CPU], ecx
        mov gs:[C_CURLWP], edi
        inc dword ptr [edi + L_NRUN]
obs_pin:                                 # EAX = LWP pinned, EDI = the interrupt LWP
        mov esp, [edi + L_STACK_HI]      # a fresh stack each time out of the pool
        mov eax, edx
        call set_ipl
        sti
        call esi
        cli
        call sched_lock                  # (once more, if the function holds it)
        CURLWP edi
        mov dword ptr [edi + L_STATE], LSPOOL
        mov eax, [edi + L_BORROWED]
        test eax, eax
        jz 1f
        # never blocked: the pinned LWP simply resumes
        mov dword ptr [edi + L_BORROWED], 0
        mov dword ptr [eax + L_PINNED], 0
        mov dword ptr [eax + L_STATE], LSONPROC
        mov gs:[C_CURLWP], eax
obs_unpin_return:                        # EAX = LWP unpinned and resumed, EDI = the interrupt LWP
        mov esp, [eax + L_SP]
        mov dword ptr [sched_depth], 0   # off the interrupt LWP's stack: let go
        mov dword ptr [sched_lock_word], 0
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
