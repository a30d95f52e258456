# switch.S — cpu_switchto: the context switch.
#
# cpu_switchto(ESI = old LWP, EDI = new LWP), IF=0, on old's stack, with the
# scheduler's lock held (sched.S).  Pushes the callee-saved registers (EBP,
# EBX, ESI, EDI) as old's switch frame, saves ESP, the CPU's IPL and the
# depth of the scheduler's lock in old, makes new current and running on
# this CPU (L_CPU), loads new's ESP, gives the lock the depth new held when
# it switched out (0 — a new LWP, or one resumed from a borrow — frees it:
# only now, with old's registers saved, may another CPU take old), loads
# new's IPL and pops new's frame: it returns in new, to wherever new last
# called cpu_switchto (or to lwp_trampoline / a borrow return, whose frames
# look the same).  EAX, ECX, EDX are clobbered.
        .include "kernel.inc"

        .text
cpu_switchto:
        push ebp
        push ebx
        push esi
        push edi
        mov eax, gs:[C_IPL]
        mov [esi + L_IPL], eax           # the IPL belongs to the LWP
        mov eax, [sched_depth]
        mov [esi + L_SCHEDDEPTH], eax
        mov [esi + L_SP], esp
        mov gs:[C_CURLWP], edi
        mov dword ptr [edi + L_STATE], LSONPROC
        CURCPU eax
        mov [edi + L_CPU], eax
        inc dword ptr [edi + L_NRUN]
        inc dword ptr gs:[C_NSWITCH]
obs_lwp_switch:                          # ESI = old LWP, EDI = new LWP
        mov esp, [edi + L_SP]
        mov eax, [edi + L_SCHEDDEPTH]
        mov [sched_depth], eax
        test eax, eax
        jnz 1f
        mov dword ptr [sched_lock_word], 0   # new holds none: the lock is free
1:      mov eax, [edi + L_IPL]
        call set_ipl
        pop edi
        pop esi
        pop ebx
        pop ebp
        ret
