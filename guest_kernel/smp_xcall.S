# smp_xcall.S — cross-calls: run a function on another CPU and wait for it.
#
# smp_xcall(EAX = function, EDX = target CPU, ECX = argument) -> EAX = the
#     function's result.  Any CPU, thread context, IF=1, below IPL_HIGH
#     (which holds the IPI back).  Runs function(EAX = argument, EBX = the
#     target's CPU index, ESI = its per-CPU data) on the target CPU, in
#     interrupt context there (IF=0), and spins (pause) until it returned.
#     One cross-call is in flight at a time (xc_lock); a caller waiting for
#     the lock or the result keeps IF=1, so a call aimed at it meanwhile is
#     still served: no deadlock between two CPUs calling each other.
#     Keeps EBX-EBP.  A call to the caller's own CPU is only a plain call,
#     with the caller's IF: function gets EAX = argument, EBX = the CPU
#     index and ESI = its per-CPU data as well.
# xcall_intr: the XCALL_VECTOR gate (class 12: above every device line's,
#     held back only at IPL_HIGH): EOI, run this CPU's mailbox (xc_func[id],
#     xc_arg[id]), set xc_done[id], leave through intr_return (which may
#     preempt, as after any interrupt).
# The reschedule IPI is not a cross-call: setrunnable sends it (sched.S,
# apic.S resched_ipi).
        .include "kernel.inc"

        .text
smp_xcall:
        push ebx
        push esi
        mov esi, eax                     # ESI = function
        cmp gs:[C_ID], edx
        jne 1f
        mov ebx, edx                     # this CPU: a plain call
        mov eax, ecx
        push esi
        CURCPU esi
        call [esp]
        add esp, 4
        jmp 9f
1:      mov ebx, 1                       # one cross-call in flight at a time
2:      xor eax, eax
        lock cmpxchg [xc_lock], ebx
        jz 3f
        pause
        jmp 2b
3:      mov [xc_arg + edx*4], ecx
        mov dword ptr [xc_done + edx*4], 0
        mov [xc_func + edx*4], esi
        mov ebx, esi
        push edx
        shl edx, 24                      # physical destination: APIC ID
        mov eax, XCALL_VECTOR
obs_xcall_send:                          # EAX = ICR low (fixed, XCALL_VECTOR), EDX = ICR high; EBX = function
        call lapic_ipi
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

xcall_intr:
        push 0                           # a vector stub's frame, for intr_return
        push XCALL_VECTOR
        pushad
        call lapic_eoi
        CURCPU esi
        mov ebx, [esi + C_ID]
        mov edx, [xc_func + ebx*4]
        test edx, edx
        jz 1f
        mov dword ptr [xc_func + ebx*4], 0
        mov eax, [xc_arg + ebx*4]
obs_xcall_run:                           # EBX = this CPU's index, EDX = function, EAX = argument
        call edx
        mov [xc_result + ebx*4], eax
        mov dword ptr [xc_done + ebx*4], 1
1:      jmp intr_return

        .bss
        .align 4
xc_lock:        .space 4
xc_func:        .space MAX_CPUS * 4      # per target CPU: the call waiting for it
xc_arg:         .space MAX_CPUS * 4
xc_result:      .space MAX_CPUS * 4
xc_done:        .space MAX_CPUS * 4
