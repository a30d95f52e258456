# spl.S — interrupt priority levels mapped onto the PIC masks.
#
# IPL_NONE < SOFTCLOCK < SOFTBIO < SOFTNET < SOFTSERIAL < VM < SCHED < HIGH.
# Each IRQ line is established at an IPL (intr.S); imask[ipl] masks every
# line established at or below ipl, and every line with no handler.  Soft
# levels mask no line: soft interrupts are kept out by their own check.
#   splraise: EAX = new level; if above the current one, raise.  EAX = old.
#   splx:     EAX = level to return to (exactly, up or down); with fast
#             soft interrupts, lowering to IPL_NONE in thread context runs
#             the pending ones (borrowing the caller, pin.S).
#   set_ipl:  the same as splx, for callers that already run with IF=0.
# IF is preserved; every other register is kept.  imask_recompute rebuilds
# the table after an intr_establish.
        .include "kernel.inc"

        .text
splraise:
        pushf
        cli
        push ecx
        mov ecx, [cpu0 + C_IPL]
        cmp eax, ecx
        jbe 1f                           # never lower here
        mov [cpu0 + C_IPL], eax
        call pic_apply
1:      mov eax, ecx
        pop ecx
        popf
        ret

splx:
        pushf
        cli
        call set_ipl
.if SOFTINT_FAST
        cmp eax, IPL_NONE                # back at thread level with fast soft
        jne 1f                           # interrupts pending: run them now,
        cmp dword ptr [cpu0 + C_SOFTPEND], 0   # as NetBSD's spllower does
        je 1f
        cmp dword ptr [cpu0 + C_IDEPTH], 0
        jne 1f
        push eax
        CURLWP eax
        cmp dword ptr [eax + L_BORROWED], 0
        jne 2f                           # not from inside a borrowing LWP
        push ecx
        push edx
        call softint_fast_dispatch
        pop edx
        pop ecx
2:      pop eax
1:
.endif
        popf
        ret

set_ipl:
        cmp eax, [cpu0 + C_IPL]
        je 1f
        mov [cpu0 + C_IPL], eax
        push eax
        call pic_apply
        pop eax
1:      ret

# imask_recompute: imask[ipl] = lines with IPL <= ipl | lines with no handler
imask_recompute:
        pushad
        xor edx, edx                     # EDX = ipl
1:      xor eax, eax
        xor ecx, ecx                     # ECX = line
2:      IH_ENTRY ebx, ecx
        cmp dword ptr [ebx + IH_FUNC], 0
        je 3f
        cmp [ebx + IH_IPL], edx
        ja 4f
3:      bts eax, ecx
4:      inc ecx
        cmp ecx, NIRQ
        jb 2b
        mov [imask + edx*4], eax
        inc edx
        cmp edx, NIPL
        jb 1b
        popad
        ret

        .data
        .align 4
imask:  .fill NIPL, 4, 0xffff
