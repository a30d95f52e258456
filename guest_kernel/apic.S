# apic.S — the interrupt controller on several CPUs: each CPU's LAPIC and
# the IO APIC (apic_ops, the other table pic.S's intr_ops can hold).
#
# lapic_calibrate(): BSP, thread context, IF=1, the PIT clock running.
#     Enables the BSP's LAPIC and counts its timer (divide 1, one-shot,
#     masked) across one PIT tick: lapic_tick = counts per tick, which every
#     CPU's periodic timer then uses (99,731 on irqlab and QEMU alike: one
#     count a nanosecond of virtual time).  Clobbers EAX-EDX.
# apic_switch(): BSP, thread context, IF=1, once (smp_start, before the APs
#     start).  With interrupts off: the 8259 pair masked for good
#     (C_PICMASK = 0xFFFF, what it holds) and LINT0 masked (no ExtINT), the
#     PIT quieted; intr_ops = apic_ops; every IO APIC pin masked, then each
#     line's entry written (ioapic_line); the BSP's LAPIC set up as every
#     AP's will be (lapic_local_init), its timer the clock.
# lapic_local_init(): IF=0, on the CPU it sets up (clobbers EAX, ECX): its LAPIC enabled
#     (spurious vector SPURIOUS_VECTOR), flat logical destination = its bit
#     (for lowest-priority delivery), LINT0/LINT1/error masked, the timer
#     periodic every lapic_tick counts on the clock's vector (line 0's:
#     class 4 + IPL_SCHED -> the clock driver on this CPU), then its TPR.
# The operations (pic.S's contract: IF=0, keep every register but EAX):
#   lapic_apply: this CPU's TPR = (4 + IPL) << 4 — a line's vector is
#       LINE_CLASS_BASE + IPL * 16 + line, priority class 4 + its IPL, so
#       the TPR keeps every line at or below the IPL out of this CPU, and
#       holds back in the LAPIC's IRR a request accepted before the raise;
#       IPL_HIGH is one class more, the IPIs' (0xC0).  Written only when it
#       changes (C_TPR holds the TPR last written).
#   ioapic_line(EBX = line): its redirection entry (pin = line; not 0, the
#       clock is each LAPIC's timer, nor 2, the cascade): level-triggered,
#       vector LINE_VECTOR(line), to the CPU intr_route names (fixed,
#       physical) or to any (lowest priority, logical: every CPU's bit),
#       masked exactly when the line has no handler or is held for its
#       handler thread (intr_held).  The IPL never masks an entry: it is
#       each CPU's own, in its TPR.  Under ioapic_lock (the index/data
#       register pair is one for all CPUs).
#   lapic_eoi: EOI to this CPU's LAPIC (a level entry's EOI broadcast
#       clears its Remote IRR).
# intr_route_init(): intr_route[L] = route=L:C from the command line, else
#     default_route[L]; a CPU number >= ncpus wraps around (mod ncpus).
# intr_cpu(EAX = line) -> EAX = the CPU index that takes the line (0 on one
#     CPU, and for lowest-priority delivery, which picks CPU 0 on irqlab and
#     QEMU).  Keeps every other register.
# resched_ipi(ESI = a CPU's per-CPU data, EAX = the LWP queued there): the
#     reschedule IPI (RESCHED_VECTOR), any context, IF any; nothing before
#     the APIC path is on.  Keeps every register.
# resched_intr: its handler: EOI, then intr_return, which preempts for the
#     LWP (or ends the idle loop's halt).
# lapic_ipi(EDX = ICR high, EAX = ICR low): send an IPI from this CPU and
#     wait until the LAPIC has sent it, interrupts off meanwhile (an
#     interrupt handler's IPI must not land between the two writes).  Keeps
#     every register.
# vclock() -> EAX = this CPU's virtual time in ns (LAPIC timer counts, one a
#     nanosecond): C_TICKS * lapic_tick + what the current tick has counted,
#     a tick that ran out but is not yet taken (its vector in the IRR)
#     counted too, and never less than the last it returned on this CPU
#     (C_VCLOCK): QEMU's LAPIC shows the reloaded count a few ns before the
#     tick's vector reaches the IRR, which read back ~20 ns.  IF=0.  Keeps
#     every other register.
# References: Intel SDM vol. 3A ch. 10 (LAPIC: timer 10.5.4, LDR/DFR 10.6.2,
# TPR/PPR 10.8.3, EOI 10.8.5, ICR 10.6.1); 82093AA IO APIC datasheet 3.2.4.
        .include "kernel.inc"

        .equ IOAPIC_REGSEL, 0xfec00000   # 82093AA: IOREGSEL, IOWIN (3.0)
        .equ IOAPIC_WIN, 0xfec00010
        .equ IOAPIC_REDTBL, 0x10         # redirection entry pin N: 0x10 + 2N (low), + 1 (high)
        .equ IOAPIC_PINS, 24
        .equ RTE_LOWEST, 0x100           # delivery mode 001: lowest priority
        .equ RTE_LOGICAL, 0x800          # destination mode: logical
        .equ RTE_LEVEL, 0x8000           # trigger mode: level
        .equ RTE_MASKED, 0x10000
        .equ LAPIC_LDR, LAPIC + 0xd0
        .equ LAPIC_DFR, LAPIC + 0xe0
        .equ LAPIC_SVR, LAPIC + 0xf0
        .equ LAPIC_ICR_LO, LAPIC + 0x300
        .equ LAPIC_ICR_HI, LAPIC + 0x310
        .equ LAPIC_LVT_TIMER, LAPIC + 0x320
        .equ LAPIC_LVT_LINT0, LAPIC + 0x350
        .equ LAPIC_LVT_LINT1, LAPIC + 0x360
        .equ LAPIC_LVT_ERROR, LAPIC + 0x370
        .equ LAPIC_TIMER_ICR, LAPIC + 0x380
        .equ LAPIC_TIMER_CCR, LAPIC + 0x390
        .equ LAPIC_TIMER_DCR, LAPIC + 0x3e0
        .equ SVR_ENABLE, 0x100
        .equ DFR_FLAT, 0xffffffff
        .equ LVT_MASKED, 0x10000
        .equ LVT_PERIODIC, 0x20000
        .equ DCR_DIVIDE_1, 0xb
        .equ ICR_BUSY, 0x1000
        .equ CLOCK_VECTOR, LINE_CLASS_BASE + IPL_SCHED * 16 + CLOCK_IRQ
        .equ LAPIC_IRR_CLOCK, LAPIC + 0x200 + (CLOCK_VECTOR >> 5) * 0x10
        .equ CLOCK_IRR_BIT, 1 << (CLOCK_VECTOR & 31)
        .equ CASCADE_LINE, 2

        .text
lapic_calibrate:
        mov dword ptr [LAPIC_SVR], SVR_ENABLE | SPURIOUS_VECTOR
        mov dword ptr [LAPIC_TIMER_DCR], DCR_DIVIDE_1
        mov dword ptr [LAPIC_LVT_TIMER], LVT_MASKED | SPURIOUS_VECTOR
        mov dword ptr [LAPIC_TIMER_ICR], 0xffffffff
        mov edx, 1                       # to the start of a tick
        call tsleep
        mov ebx, [LAPIC_TIMER_CCR]
        mov edx, 1                       # one whole tick
        call tsleep
        sub ebx, [LAPIC_TIMER_CCR]
        mov [lapic_tick], ebx
        ret

apic_switch:
        pushf
        cli
        mov al, 0xff                     # the 8259 pair: every line masked
        out PIC1_DATA, al
        out PIC2_DATA, al
        mov dword ptr [cpu0 + C_PICMASK], 0xffff
        mov dword ptr [LAPIC_LVT_LINT0], LVT_MASKED   # no ExtINT any more
        call clock_quiet                 # the PIT's last edge goes nowhere
        call intr_route_init
        mov esi, apic_ops                # the APICs are the controller from now on
        mov edi, intr_ops
        mov ecx, OPS_SIZE / 4
        cld
        rep movsd
        mov dword ptr [smp_apic], 1
        xor ebx, ebx                     # every pin masked first
1:      lea eax, [ebx*2 + IOAPIC_REDTBL]
        mov [IOAPIC_REGSEL], eax
        mov dword ptr [IOAPIC_WIN], RTE_MASKED
        inc ebx
        cmp ebx, IOAPIC_PINS
        jb 1b
        xor ebx, ebx                     # then each line's entry
2:      call ioapic_line
        inc ebx
        cmp ebx, NIRQ
        jb 2b
        call lapic_local_init            # the BSP's LAPIC: TPR, the clock
        popf
        ret

lapic_local_init:
        mov dword ptr [LAPIC_SVR], SVR_ENABLE | SPURIOUS_VECTOR
        mov dword ptr [LAPIC_DFR], DFR_FLAT
        mov ecx, gs:[C_ID]               # logical destination: bit ID
        mov eax, 1
        shl eax, cl
        shl eax, 24
        mov [LAPIC_LDR], eax
        mov dword ptr [LAPIC_LVT_LINT0], LVT_MASKED
        mov dword ptr [LAPIC_LVT_LINT1], LVT_MASKED
        mov dword ptr [LAPIC_LVT_ERROR], LVT_MASKED
        mov dword ptr [LAPIC_TIMER_DCR], DCR_DIVIDE_1
        mov dword ptr [LAPIC_LVT_TIMER], LVT_PERIODIC | CLOCK_VECTOR
        mov eax, [lapic_tick]
        mov [LAPIC_TIMER_ICR], eax
        mov dword ptr gs:[C_TPR], -1 # no TPR written yet
        jmp lapic_apply

lapic_apply:
        mov eax, gs:[C_IPL]
        cmp eax, IPL_HIGH                # IPL_HIGH: the IPIs' class too
        jb 1f
        inc eax
1:      add eax, 4
        shl eax, 4
        cmp eax, gs:[C_TPR]
        je 2f
        mov gs:[C_TPR], eax
        mov [LAPIC_TPR], eax
2:      ret

ioapic_line:
        cmp ebx, NIRQ
        jae 9f
        cmp ebx, CLOCK_IRQ
        je 9f
        cmp ebx, CASCADE_LINE
        je 9f
        push ecx
        push edx
        IH_ENTRY ecx, ebx
        mov eax, [ecx + IH_IPL]          # the entry's low word
        shl eax, 4
        lea eax, [eax + ebx + LINE_CLASS_BASE + RTE_LEVEL]
        cmp dword ptr [ecx + IH_FUNC], 0
        je 1f                            # no handler: masked
        bt dword ptr [intr_held], ebx
        jnc 2f                           # held for its thread: masked
1:      or eax, RTE_MASKED
2:      movzx edx, byte ptr [intr_route + ebx]   # the destination, high word
        cmp edx, ROUTE_LOWEST
        jne 3f
        or eax, RTE_LOWEST | RTE_LOGICAL
        mov edx, [cpus_mask]
3:      shl edx, 24
4:      lock bts dword ptr [ioapic_lock], 0
        jnc 5f
        pause
        jmp 4b
5:      lea ecx, [ebx*2 + IOAPIC_REDTBL + 1]
        mov [IOAPIC_REGSEL], ecx
        mov [IOAPIC_WIN], edx
        dec ecx
        mov [IOAPIC_REGSEL], ecx
        mov edx, ebx
obs_ioapic_rte:                          # EDX = line (= pin), EAX = its entry's low word (bit 16: masked)
        mov [IOAPIC_WIN], eax
        mov dword ptr [ioapic_lock], 0
        pop edx
        pop ecx
9:      ret

lapic_eoi:
        mov dword ptr [LAPIC_EOI], 0
        ret

intr_route_init:
        push ebx
        xor ecx, ecx
1:      movzx eax, byte ptr [default_route + ecx]
        bt dword ptr [route_given], ecx
        jnc 2f
        movzx eax, byte ptr [route_cmdline + ecx]
2:      cmp eax, ROUTE_LOWEST
        je 3f
        xor edx, edx                     # a CPU that is not there: wrap around
        div dword ptr [ncpus]
        mov eax, edx
3:      mov [intr_route + ecx], al
        inc ecx
        cmp ecx, NIRQ
        jb 1b
        mov ecx, [ncpus]                 # every CPU's logical bit
        mov eax, 1
        shl eax, cl
        dec eax
        mov [cpus_mask], eax
        pop ebx
        ret

intr_cpu:
        cmp dword ptr [smp_apic], 0
        je 1f
        movzx eax, byte ptr [intr_route + eax]
        cmp eax, ROUTE_LOWEST
        jne 2f
1:      xor eax, eax
2:      ret

resched_ipi:
        cmp dword ptr [smp_apic], 0
        je 9f
        push eax
        push edx
        mov edx, [esi + C_ID]
obs_resched_ipi:                         # EAX = the LWP queued, EDX = the CPU told
        shl edx, 24
        mov eax, RESCHED_VECTOR
        call lapic_ipi
        pop edx
        pop eax
9:      ret

resched_intr:
        push 0                           # a vector stub's frame, for intr_return
        push RESCHED_VECTOR
        pushad
        call lapic_eoi
        jmp intr_return

lapic_ipi:
        pushf
        cli
        mov [LAPIC_ICR_HI], edx
        mov [LAPIC_ICR_LO], eax
1:      test dword ptr [LAPIC_ICR_LO], ICR_BUSY
        jnz 1b
        popf
        ret

vclock:
        push ecx
        push edx
1:      mov ecx, [LAPIC_IRR_CLOCK]
        mov eax, [LAPIC_TIMER_CCR]
        mov edx, [LAPIC_IRR_CLOCK]
        xor ecx, edx
        test ecx, CLOCK_IRR_BIT
        jnz 1b                           # the tick ran out meanwhile: again
        and edx, CLOCK_IRR_BIT
        neg edx                          # CF = a tick is pending
        mov edx, gs:[C_TICKS]
        adc edx, 0
        imul edx, [lapic_tick]
        sub edx, eax
        add edx, [lapic_tick]
        mov eax, edx
        sub edx, gs:[C_VCLOCK]           # behind the last (a signed difference:
        jns 2f                           # the 32-bit clock wraps after 4.29 s)
        mov eax, gs:[C_VCLOCK]           # (monotonic on this CPU)
2:      mov gs:[C_VCLOCK], eax
        pop edx
        pop ecx
        ret

        .data
        .align 4
apic_ops:                                # OPS_*: apply, line, eoi, early, late, stray
        .long lapic_apply, ioapic_line, lapic_eoi, intr_nop, lapic_eoi, lapic_eoi
smp_apic:       .long 0                  # 1 once apic_switch made the APICs the controller
lapic_tick:     .long 0                  # LAPIC timer counts per clock tick (divide 1)
ioapic_lock:    .long 0
cpus_mask:      .long 1                  # every CPU's logical destination bit
default_route:                           # line -> CPU (wrapped to the CPU count)
        .byte 0, 1, 0, 0, 3, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0
intr_route:     .fill NIRQ, 1, 0
