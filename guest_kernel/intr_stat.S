# intr_stat.S — interrupt latency, per line, while a scenario measures.
#
# With bigstat_on (kernel_lock.S: smp_mpsafe sets it, on the APIC path,
# where vclock exists) every device interrupt is stamped at intr_entry
# (intr_stamp: IH_TSTART = this CPU's vclock) and its driver's work_done
# adds the time since (intr_latency: IH_LATSUM, IH_LATN, IH_LATMAX).  Both
# run on the CPU that took the interrupt: interrupt LWPs and soft
# interrupts are bound to it, so the two stamps read the same clock.  A
# second interrupt before the first one's work is done restamps the line
# (the work done then covers both).
# intr_stamp(EBX = line), IF=0; intr_latency(EBX = line), any IF.  Both keep
# every register.
        .include "kernel.inc"

        .text
intr_stamp:
        cmp dword ptr [bigstat_on], 0
        je 1f
        cmp ebx, NIRQ
        jae 1f
        push eax
        push ecx
        call vclock
        IH_ENTRY ecx, ebx
        mov [ecx + IH_TSTART], eax
        pop ecx
        pop eax
1:      ret

intr_latency:
        cmp dword ptr [bigstat_on], 0
        je 2f
        pushf
        cli
        push eax
        push ecx
        IH_ENTRY ecx, ebx
        cmp dword ptr [ecx + IH_TSTART], 0
        je 1f                            # not stamped (work from thread context)
        call vclock
        sub eax, [ecx + IH_TSTART]
        mov dword ptr [ecx + IH_TSTART], 0
        add [ecx + IH_LATSUM], eax
        inc dword ptr [ecx + IH_LATN]
        cmp eax, [ecx + IH_LATMAX]
        jbe 1f
        mov [ecx + IH_LATMAX], eax
1:      pop ecx
        pop eax
        popf
2:      ret
