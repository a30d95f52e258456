# smp_xcall.S — cross-calls and reschedule IPIs between any two CPUs.
#
# smp_xcall(EAX = function, EDX = target APIC ID, ECX = argument) -> EAX =
#     the function's result.  Any CPU, thread context, IF=1 (on the BSP below
#     IPL_HIGH, which holds the IPI back).  Runs function(EAX = argument,
#     EBX = target's APIC ID, ESI = its cpu_info) on the target CPU, in
#     interrupt context there (IF=0), and spins (pause) until it returned.
#     One cross-call is in flight at a time (xc_lock); a caller waiting for
#     the lock or the result keeps IF=1, so a call aimed at it meanwhile is
#     still served: no deadlock between two CPUs calling each other.
#     Keeps EBX-EBP.  A call to the caller's own CPU is only a plain call,
#     with the caller's IF: function gets EAX = argument but EBX = function
#     and the caller's ESI, and only EBX and ESI are kept across it (no
#     scenario makes one; smp_wakeup is for APs).
# smp_wakeup(EAX = wait channel), from an AP: the reschedule IPI:
#     wakeup_locked on the BSP, whose run queue holds every LWP but the APs'
#     bound ones; the IPI leaves through intr_return, so a woken LWP that
#     outranks the interrupted one runs at once (preempt), or the idle loop
#     picks it up.
#     (An AP's bound LWP blocked on a mutex is woken by smp_kick, smp.S.)
# smp_ipi: the XCALL_VECTOR gate (class 12: above every device line's, held
#     back only at IPL_HIGH): EOI, run the mailbox of this CPU (xc_func[id],
#     xc_arg[id]), set xc_done[id]; the BSP leaves through intr_return.
        .include "kernel.inc"

        .data                            # code too: see SMP_BLOB in kernel.inc
smp_xcall:
        push ebx
        push esi
        mov ebx, eax                     # EBX = function
        call smp_curcpu
        cmp [eax + C_ID], edx
        jne 1f
        mov eax, ecx                     # this CPU: a plain call
        call ebx
        jmp 9f
1:      mov esi, 1                       # one cross-call in flight at a time
2:      xor eax, eax
        lock cmpxchg [xc_lock], esi
        jz 3f
        pause
        jmp 2b
3:      mov [xc_arg + edx*4], ecx
        mov dword ptr [xc_done + edx*4], 0
        mov [xc_func + edx*4], ebx
        push edx
        shl edx, 24                      # physical destination: APIC ID
        mov eax, XCALL_VECTOR
obs_xcall_send:                          # EAX = ICR low (fixed, XCALL_VECTOR), EDX = ICR high; EBX = function
        call send_ipi
        pop edx
4:      cmp dword ptr [xc_done + edx*4], 0
        jne 5f
        pause                            # IF=1: calls aimed at us are served
        jmp 4b
5:      mov eax, [xc_result + edx*4]
        mov dword ptr [xc_lock], 0
9:      pop esi
        pop ebx
        ret

smp_wakeup:
obs_resched_ipi:                         # EAX = wait channel (the cross-call to the BSP follows)
        push ecx
        push edx
        mov ecx, eax
        mov eax, wakeup_locked
        xor edx, edx                     # the BSP
        call smp_xcall
        pop edx
        pop ecx
        ret

smp_ipi:
        push 0                           # a vector stub's frame, for intr_return
        push XCALL_VECTOR
        pushad
        call xcall_serve                 # ESI = this CPU's cpu_info
        cmp esi, cpu0
        je intr_return                   # the BSP: preempts if the call woke a better LWP
        popad
        add esp, 8
        iret

# xcall_serve: IF=0; EOI, then this CPU's mailbox, if a call is there
xcall_serve:
        mov dword ptr [LAPIC_EOI], 0
        call smp_curcpu
        mov esi, eax
        mov ebx, [esi + C_ID]
        mov edx, [xc_func + ebx*4]
        test edx, edx
        jz 1f
        mov dword ptr [xc_func + ebx*4], 0
        mov eax, [xc_arg + ebx*4]
obs_xcall_run:                           # EBX = this CPU's APIC ID, EDX = function, EAX = argument
        call edx
        mov [xc_result + ebx*4], eax
        mov dword ptr [xc_done + ebx*4], 1
1:      ret

        .bss
        .align 4
xc_lock:        .space 4
xc_func:        .space MAX_CPUS * 4      # per target CPU: the call waiting for it
xc_arg:         .space MAX_CPUS * 4
xc_result:      .space MAX_CPUS * 4
xc_done:        .space MAX_CPUS * 4
