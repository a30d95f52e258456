# intr_classic.S — the classic model: handlers run in interrupt context.
#
# intr_hard: entered by jmp from intr_entry with the interrupted registers
#     pushed (pushad over the stub's vector and error code), EBX = line,
#     IF=0.  With --intr-stack separate (INTR_STACK_SEPARATE) the outermost
#     interrupt moves to the per-CPU interrupt stack.  Raises the IPL to the
#     line's (which masks it at the PIC), sends an early EOI, runs the
#     handler with IF=1 (higher lines nest), restores the IPL, and leaves
#     through intr_return: the thread-level check (soft interrupts,
#     preemption) and iret with IF=0.  Lines with no handler go to
#     intr_stray instead (no EOI for a spurious IRQ 7 / 15).  The handler
#     never blocks; it defers to a soft interrupt through a ring.  In the other models this is the
#     path of the lines above IPL_VM (the clock, the RTC, COM1).
        .include "kernel.inc"

        .text
.if MODEL == MODEL_CLASSIC
intr_entry:
        pushad
        mov ebx, [esp + 32]
        sub ebx, IRQ_BASE
        # falls through to intr_hard
.endif
intr_hard:
        mov eax, ebx
        shl eax, 5
        cmp dword ptr [ih_table + eax + IH_FUNC], 0
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
        mov eax, ebx
        shl eax, 5
        mov eax, [ih_table + eax + IH_IPL]
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

# intr_stray: a line with no handler (EBX = line).  A spurious IRQ 7 / 15
# (the request vanished before the acknowledge: its ISR bit is clear) gets
# no EOI from its own chip; anything else is acknowledged and ignored.
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
stray_count: .long 0                     # interrupts on lines with no handler
