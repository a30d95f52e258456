# switch.S — cpu_switchto: the context switch.
#
# cpu_switchto(ESI = old LWP, EDI = new LWP), IF=0, on old's stack.
# Pushes the callee-saved registers (EBP, EBX, ESI, EDI) as old's switch
# frame, saves ESP and the CPU's IPL in old, makes new current and running,
# loads new's ESP and IPL and pops new's frame: it returns in new, to
# wherever new last called cpu_switchto (or to lwp_trampoline / a borrow
# return, whose frames look the same).  EAX, ECX, EDX are clobbered.
        .include "kernel.inc"

        .text
cpu_switchto:
        push ebp
        push ebx
        push esi
        push edi
        mov eax, [cpu0 + C_IPL]
        mov [esi + L_IPL], eax           # the IPL belongs to the LWP
        mov [esi + L_SP], esp
        mov [cpu0 + C_CURLWP], edi
        mov dword ptr [edi + L_STATE], LSONPROC
        inc dword ptr [edi + L_NRUN]
        inc dword ptr [cpu0 + C_NSWITCH]
obs_lwp_switch:                          # ESI = old LWP, EDI = new LWP
        mov esp, [edi + L_SP]
        mov eax, [edi + L_IPL]
        call set_ipl
        pop edi
        pop esi
        pop ebx
        pop ebp
        ret
