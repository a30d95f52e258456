# intr.S — the hard interrupt path every model shares: entry, interrupt
# context, the return to the interrupted code, stray lines.
#
# intr_entry: a vector stub (gen/vectors.S) pushed the error code (0) and
#     the vector, IF=0.  Pushes the interrupted registers (pushad) and goes,
#     with EBX = line, to the path of the line's model (IH_MODEL, from its
#     driver): classic -> intr_hard; ithread and hybrid -> intr_ithread
#     (intr_ithread.S); threaded -> intr_threaded (intr_threaded.S).  A line
#     with no handler is "classic" too: intr_hard sends it to intr_stray.
# intr_hard: EBX = line, the pushad frame on the stack, IF=0.  With
#     --intr-stack separate (INTR_STACK_SEPARATE) the outermost interrupt
#     moves to the per-CPU interrupt stack.  Raises the IPL to the line's
#     (which masks it at the PIC), sends an early EOI, runs the handler with
#     IF=1 (higher lines nest), restores the IPL, and falls through to
#     intr_return.  The handler never blocks; work that may block goes to
#     its bottom half (intr_bottom, intr_establish.S).  Every model runs the
#     lines above IPL_VM (the clock, the RTC, COM1) here.
# intr_return: IF=0, the pushad frame on top of the interrupted stack: the
#     thread-level check (intr_return_check), then popad and iret with IF=0.
# intr_return_check: IF=0 on the interrupted LWP's stack just before
#     popad/iret.  Back at thread level (no interrupt frame open, not inside
#     a borrowing LWP, IPL_NONE) it runs pending fast soft interrupts and
#     honours a reschedule request (preempt).
# intr_stray: a line with no handler (EBX = line).  A spurious IRQ 7 / 15
#     (the request vanished before the acknowledge: its ISR bit is clear)
#     gets no EOI from its own chip; anything else is acknowledged and
#     ignored.
        .include "kernel.inc"

        .text
intr_entry:
        pushad
        mov ebx, [esp + 32]
        sub ebx, IRQ_BASE
        IH_ENTRY eax, ebx
        mov eax, [eax + IH_MODEL]
        jmp [intr_paths + eax*4]

intr_hard:
        IH_ENTRY eax, ebx
        cmp dword ptr [eax + IH_FUNC], 0
        je intr_stray                    # no handler: spurious or stray
        inc dword ptr [cpu0 + C_IDEPTH]
        mov eax, [cpu0 + C_IDEPTH]
        cmp eax, [cpu0 + C_MAXDEPTH]
        jbe 1f
        mov [cpu0 + C_MAXDEPTH], eax
1:      mov ebp, esp                     # EBP = the interrupted stack's frame
.if INTR_STACK_SEPARATE
        cmp dword ptr [cpu0 + C_IDEPTH], 1
        jne 2f
        mov esp, [cpu0 + C_INTRSTACK_HI] # outermost: onto the interrupt stack
2:
.endif
        push ebp
.if BUG_EOI_UNMASKED
        mov eax, [cpu0 + C_IPL]          # BUG: no raise, "the in-service bit keeps
                                         # the line out" -- but the EOI below clears it
.else
        IH_ENTRY eax, ebx
        mov eax, [eax + IH_IPL]
        call splraise                    # masks this line and all below it
.endif
        push eax                         # the interrupted IPL
        call pic_eoi
obs_intr_enter:                          # EBX = line, EBP = interrupted frame (pushad)
        sti
        call intr_call_handler
        cli
obs_intr_exit:                           # EBX = line
        pop eax
        call set_ipl
        pop ebp
        mov esp, ebp                     # back on the interrupted stack
        dec dword ptr [cpu0 + C_IDEPTH]
        # falls through to intr_return
intr_return:
        call intr_return_check
.if BUG_STI_BEFORE_IRET
        sti                              # BUG: "iret restores IF anyway"
.endif
        popad
        add esp, 8                       # vector, error code
        iret

intr_return_check:
        cmp dword ptr [cpu0 + C_IDEPTH], 0
        jne 9f
        CURLWP eax
        cmp dword ptr [eax + L_BORROWED], 0
        jne 9f                           # returning into a borrowing LWP
        cmp dword ptr [cpu0 + C_IPL], IPL_NONE
        jne 9f
.if SOFTINT_FAST
        cmp dword ptr [cpu0 + C_SOFTPEND], 0
        je 1f
        call softint_fast_dispatch
1:
.endif
        cmp dword ptr [cpu0 + C_RESCHED], 0
        je 9f
        call preempt
9:      ret

intr_stray:
        inc dword ptr [stray_count]
        mov al, 0x0b                     # OCW3: read the ISR next
        cmp ebx, 8
        jae 1f
        out PIC1_CMD, al
        in al, PIC1_CMD
        mov ecx, ebx
        jmp 2f
1:      out PIC2_CMD, al
        in al, PIC2_CMD
        lea ecx, [ebx - 8]
2:      bt eax, ecx
        jc 3f
        cmp ebx, 8                       # spurious: only the slave's cascade
        jb intr_return                   # in-service bit on the master, if any
        mov al, PIC_EOI
        out PIC1_CMD, al
        jmp intr_return
3:      call pic_eoi
        jmp intr_return

        .data
        .align 4
intr_paths:                              # by IH_MODEL (MODEL_* in layout.py)
        .long intr_hard                  # MODEL_CLASSIC
        .long intr_ithread               # MODEL_ITHREAD
        .long intr_threaded              # MODEL_THREADED
        .long intr_ithread               # MODEL_HYBRID: a borrowing interrupt thread too
stray_count: .long 0                     # interrupts on lines with no handler
