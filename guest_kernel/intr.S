# intr.S — what every interrupt model shares: the handler table, the call
# of a handler, the return-to-thread check, CPU exceptions and panic.
#
# intr_establish(EBX = line, EAX = function, EDX = argument, ECX = IPL,
#     ESI = flags (IH_MPSAFE), EDI = name): records the handler, gives the
#     line its LWP when the model runs it as a thread (ithread: an interrupt
#     LWP in its pool; threaded: a handler thread) — only lines at or below
#     IPL_VM; above it every model runs handlers in interrupt context, as
#     Solaris does above LOCK_LEVEL — and rebuilds the IPL masks.
# intr_call_handler(EBX = line), IF=1: the handler with EAX = argument,
#     under the big lock unless the line is MPSAFE.  Keeps EBX.
# intr_return_check: IF=0 on the interrupted LWP's stack just before
#     popad/iret.  Back at thread level (no interrupt frame open, not inside
#     a borrowing LWP, IPL_NONE) it runs pending fast soft interrupts and
#     honours a reschedule request (preempt).
# trap_entry: any CPU exception: report it and exit with status 3.
        .include "kernel.inc"

        .text
intr_establish:
        pushad
        mov ebp, ebx
        shl ebp, 5                       # IH_SIZE = 32
        add ebp, ih_table
        mov [ebp + IH_FUNC], eax
        mov [ebp + IH_ARG], edx
        mov [ebp + IH_IPL], ecx
        mov [ebp + IH_FLAGS], esi
        mov [ebp + IH_NAME], edi
        mov dword ptr [ebp + IH_LWP], 0
.if MODEL != MODEL_CLASSIC
        cmp ecx, IPL_VM
        ja 1f
        mov edx, ebx                     # the LWP's argument: the line
        mov ebx, edi
        mov ecx, PRI_INTR
.if MODEL == MODEL_ITHREAD
        xor eax, eax
        mov esi, LF_ITHREAD
        call lwp_create
        mov dword ptr [eax + L_STATE], LSPOOL
.else
        mov eax, irq_thread
        mov esi, LF_IRQTHREAD
        call lwp_create
        call setrunnable
.endif
        mov [eax + L_LINE], edx
        mov [ebp + IH_LWP], eax
1:
.endif
        call imask_recompute
        pushf
        cli
        call pic_apply
        popf
        popad
        ret

intr_call_handler:
        mov eax, ebx
        shl eax, 5
        inc dword ptr [ih_table + eax + IH_COUNT]
        test dword ptr [ih_table + eax + IH_FLAGS], IH_MPSAFE
        jnz 1f
        call kernel_lock                 # not MPSAFE: under the big lock
        push ebx
        mov eax, [ih_table + eax + IH_ARG]
        shl ebx, 5
        call [ih_table + ebx + IH_FUNC]
        pop ebx
        call kernel_unlock_one
        ret
1:      push ebx
        mov eax, [ih_table + eax + IH_ARG]
        shl ebx, 5
        call [ih_table + ebx + IH_FUNC]
        pop ebx
        ret

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

trap_entry:
        pushad
        mov esi, msg_trap
        call puts
        mov eax, [esp + 32]              # vector
        call putdec
        mov esi, msg_at
        call puts
        mov eax, [esp + 40]              # faulting EIP
        call puthex
        call newline
        mov al, 3
        jmp kernel_exit

# panic: ESI = message
panic:
        cli
        push esi
        mov esi, msg_panic
        call puts
        pop esi
        call puts
        call newline
        mov al, 3
        jmp kernel_exit

        .data
msg_trap:  .asciz "panic: exception "
msg_at:    .asciz " at eip 0x"
msg_panic: .asciz "panic: "
        .bss
        .align 32
ih_table: .space NIRQ * IH_SIZE
