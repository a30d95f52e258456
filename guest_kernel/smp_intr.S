# smp_intr.S — on several CPUs: the clock from the LAPIC timer and device
# interrupts through the IO APIC (the PIT and the 8259 pair stay for cpus=1).
#
# smp_timer_calibrate(): BSP, thread context, IF=1, PIT clock running, before
#     the APs start.  Fills the IDT every CPU uses (ap_idt) and loads it on
#     the BSP, enables the BSP's LAPIC (SVR), then counts its LAPIC timer
#     (divide 1, one-shot, masked) across one PIT tick: lapic_tick = counts
#     per tick, which every CPU's periodic timer then uses (one tick per CPU,
#     calibrated in virtual time).  Clobbers EAX-EDX.
# smp_route(): BSP, thread context, IF=1, after the APs are up.  Switches the
#     UP kernel's interrupt hardware, with interrupts off:
#     - the 8259 pair fully masked (C_PICMASK = 0xFFFF, what it holds) and
#       LINT0 masked: no ExtINT any more;  the PIT quieted (clock_quiet);
#     - ISA line L (1-15, not the cascade 2) -> IO APIC pin L, level-
#       triggered, fixed, physical destination APIC 0 (the UP kernel and
#       its handlers live on the BSP), vector LINE_VECTOR(L) = 0x40 +
#       IH_IPL(L) * 16 + L: the priority class is 4 + the line's IPL;
#     - the clock: the BSP's LAPIC timer, periodic, lapic_tick counts,
#       vector LINE_VECTOR(0) (class 4 + IPL_SCHED) -> line 0's stub;
#     - ap_idt gate LINE_VECTOR(L) -> the UP stub of vector 0x20 + L, so
#       intr_entry and every model's path run unchanged;
#     - the UP kernel's pic_apply and pic_eoi are patched at run time into
#       jumps to smp_pic_apply and smp_eoi (the UP text keeps every byte
#       and address on one CPU: nothing is patched there).
# smp_pic_apply: (pic_apply's contract: IF=0, keeps all but EAX) what the
#     8259 IMR did, in two places: each line's redirection entry is masked
#     exactly when its bit is set in smp_linemask = imask[IPL] | C_HELDMASK
#     (at or below the IPL, held for a handler thread — the ithread and
#     threaded models' line masking — or no handler), its vector following
#     IH_IPL; and the LAPIC TPR = (4 + IPL) << 4 (IPL_HIGH: one class more,
#     the cross-call IPI's) holds back, in the LAPIC's IRR, a line's request
#     that was accepted before its entry was masked: nothing at or below the
#     IPL slips through after a raise.  Level-triggered entries lose nothing
#     while masked (the input is still high when they open), and an early EOI
#     re-delivers nothing while the handler runs (its entry is masked).
# smp_eoi: (pic_eoi's contract) EOI to the LAPIC; a level entry's EOI
#     broadcast clears its Remote IRR.
# References: Intel SDM vol. 3A ch. 10 (LAPIC: timer 10.5.4, TPR/PPR
# 10.8.3, EOI 10.8.5); 82093AA IO APIC datasheet 3.2.4 (redirection entry).
        .include "kernel.inc"

        .equ IOAPIC_REGSEL, 0xfec00000   # 82093AA: IOREGSEL, IOWIN (3.0)
        .equ IOAPIC_WIN, 0xfec00010
        .equ IOAPIC_REDTBL, 0x10         # redirection entry pin N: 0x10 + 2N (low), + 1 (high)
        .equ IOAPIC_PINS, 24
        .equ RTE_LEVEL, 0x8000           # trigger mode: level
        .equ RTE_MASKED, 0x10000
        .equ LAPIC_TIMER_CCR, LAPIC + 0x390
        .equ LINE_CLASS_BASE, 0x40       # LINE_VECTOR(L) = 0x40 + IPL * 16 + L
        .equ CASCADE_LINE, 2
        .equ JMP_REL32, 0xe9

        .data                            # code too: see SMP_BLOB in kernel.inc
smp_timer_calibrate:
        xor ebx, ebx                     # ap_idt: the UP gates 0-0x2f, then
1:      mov eax, [idt + ebx*8]           # every line's class vectors
        mov [ap_idt + ebx*8], eax
        mov eax, [idt + ebx*8 + 4]
        mov [ap_idt + ebx*8 + 4], eax
        inc ebx
        cmp ebx, NVECTORS
        jb 1b
2:      mov eax, ap_unexpected
        cmp ebx, LINE_CLASS_BASE
        jb 3f
        cmp ebx, LINE_CLASS_BASE + NIPL * 16
        jae 3f
        mov eax, ebx                     # vector 0x40 + ipl*16 + L -> stub 0x20 + L
        and eax, 15
        mov eax, [vector_table + IRQ_BASE*4 + eax*4]
3:      call ap_set_gate
        inc ebx
        cmp ebx, 256
        jb 2b
        mov ebx, TIMER_VECTOR            # the APs' timer and wake-up
        mov eax, ap_timer_intr
        call ap_set_gate
        mov ebx, WAKE_VECTOR
        mov eax, ap_wake_intr
        call ap_set_gate
        mov ebx, XCALL_VECTOR            # cross-calls and reschedule IPIs (smp_xcall.S)
        mov eax, smp_ipi
        call ap_set_gate
        mov ebx, SPURIOUS_VECTOR
        mov eax, ap_spurious
        call ap_set_gate
        lidt [ap_idtr]
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

smp_route:
        pushf
        cli
        mov al, 0xff                     # the 8259 pair: every line masked
        out PIC1_DATA, al
        out PIC2_DATA, al
        mov dword ptr [cpu0 + C_PICMASK], 0xffff
        mov dword ptr [LAPIC_LVT_LINT0], LVT_MASKED   # no ExtINT any more
        call clock_quiet                 # the PIT's last edge goes nowhere
        xor ebx, ebx                     # every pin masked, destination APIC 0
1:      lea eax, [ebx*2 + IOAPIC_REDTBL + 1]
        mov [IOAPIC_REGSEL], eax
        mov dword ptr [IOAPIC_WIN], 0
        dec eax
        mov [IOAPIC_REGSEL], eax
        mov dword ptr [IOAPIC_WIN], RTE_MASKED
        mov dword ptr [smp_rte + ebx*4], RTE_MASKED
        inc ebx
        cmp ebx, IOAPIC_PINS
        jb 1b
        mov eax, smp_pic_apply           # patch the UP entry points
        mov ebx, pic_apply
        call smp_patch_jmp
        mov eax, smp_eoi
        mov ebx, pic_eoi
        call smp_patch_jmp
        mov eax, [ih_table + CLOCK_IRQ*IH_SIZE + IH_IPL]
        shl eax, 4                       # the clock: LAPIC timer, line 0's vector
        add eax, LINE_CLASS_BASE + CLOCK_IRQ
        or eax, LVT_PERIODIC
        mov [LAPIC_LVT_TIMER], eax
        mov eax, [lapic_tick]
        mov [LAPIC_TIMER_ICR], eax
        inc dword ptr [smp_routed]
        call pic_apply                   # now smp_pic_apply: TPR and entries
        popf
        ret

# smp_patch_jmp: overwrite the 5 bytes at EBX with `jmp EAX`
smp_patch_jmp:
        sub eax, ebx
        sub eax, 5
        mov byte ptr [ebx], JMP_REL32
        mov [ebx + 1], eax
        ret

smp_eoi:
        mov dword ptr [LAPIC_EOI], 0
        ret

smp_pic_apply:
        push ebx
        push ecx
        push edx
        mov ecx, NIPL                    # EBX = a signature of imask (it changes
        xor ebx, ebx                     # when intr_establish changes a line)
1:      add ebx, [imask + ecx*4 - 4]
        loop 1b
        mov eax, [cpu0 + C_IPL]
        mov edx, [imask + eax*4]
        or edx, [cpu0 + C_HELDMASK]
        mov ecx, edx
        xor ecx, [smp_linemask]          # ECX = the lines whose mask changes
        mov [smp_linemask], edx
        cmp ebx, [smp_imask_sig]
        je 2f
        mov [smp_imask_sig], ebx         # handlers changed: every entry again
        mov ecx, 0xffff
2:      cmp eax, IPL_HIGH                # TPR: hold back class 4 + IPL and below;
        jb 3f                            # IPL_HIGH also the cross-call IPI (class 12)
        inc eax
3:      add eax, 4
        shl eax, 4
obs_smp_tpr:                             # EAX = the TPR written; smp_linemask is new
        mov [LAPIC_TPR], eax
        and ecx, ~(1 << CLOCK_IRQ | 1 << CASCADE_LINE)   # the LAPIC timer; no pin
4:      bsf edx, ecx                     # each line whose entry changes
        jz 6f
        btr ecx, edx
        IH_ENTRY ebx, edx
        mov eax, [ebx + IH_IPL]
        shl eax, 4
        lea eax, [eax + edx + LINE_CLASS_BASE + RTE_LEVEL]
        bt dword ptr [smp_linemask], edx
        jnc 5f
        or eax, RTE_MASKED
5:      mov [smp_rte + edx*4], eax
        lea ebx, [edx*2 + IOAPIC_REDTBL]
        mov [IOAPIC_REGSEL], ebx
obs_ioapic_rte:                          # EDX = line (= pin), EAX = its entry (bit 16: masked)
        mov [IOAPIC_WIN], eax
        jmp 4b
6:      pop edx
        pop ecx
        pop ebx
        ret

        .bss
        .align 16
idt:            .space NVECTORS * 8      # boot.S's IDT, moved here (after every UP
                                         # address) so that the SMP blob takes its room
smp_rte:        .space IOAPIC_PINS * 4   # redirection entries (low words) last written
smp_linemask:   .space 4                 # imask[IPL] | held: lines in effect masked
smp_imask_sig:  .space 4                 # imask's signature when the entries were written
smp_routed:     .space 4                 # 1 once smp_route switched the hardware
lapic_tick:     .space 4                 # LAPIC timer counts per clock tick (divide 1)
