# smp.S — application processors: start-up, per-CPU data, cross-calls.
#
# Nothing here runs on one CPU but smp_init reading `cpus=1`: the UP kernel
# (PIT clock, 8259s, one run queue on the BSP) is byte-for-byte what it was,
# and only the SMP blob calls in here (scen_smp.S: the smp_* scenarios and
# `scenario=smp:NAME`; smp_intr.S, smp_xcall.S, smp_wq.S).  The CPU count
# comes from the command line (`cpus=N`, 1-8, default 1): irqlab without
# --cpus has no APIC at all, so the kernel must not probe 0xFEE00000 to
# find out.
#
# smp_init(): BSP, thread context, IF=1.  EAX = smp_ncpus from the command
#     line; when > 1, fills ap_idt and calibrates the LAPIC timer
#     (smp_timer_calibrate, smp_intr.S), copies the trampoline to 0x8000,
#     starts APIC IDs 1..N-1 one at a time by INIT, SIPI, SIPI (SDM 8.4.4.1),
#     waiting (tsleep, bounded) until each has counted itself in
#     smp_started, switches the BSP to the LAPIC clock and the IO APIC
#     (smp_route) and prints "smp: N cpus up".  EAX = 0, or a reason string
#     when an AP did not start.  Only the first call does anything.
# smp_run(EAX = function): a cross-call: every AP calls function(EBX = its
#     APIC ID, ESI = its cpu_info) once, woken by the IPI WAKE_VECTOR; the
#     BSP waits (tsleep polls) until all have returned.  Keeps EBX-EBP.
#     smp_post(EAX) starts one without waiting, smp_wait waits for it.
# smp_curcpu() -> EAX = this CPU's cpu_info (cpu0 on the BSP), any CPU.
# smp_kick(): WAKE_VECTOR to every AP by physical APIC ID, the sender's own
#     too (a self-IPI just ends its next hlt early); never to the BSP, where
#     nothing waits for it (its LWPs are woken through its run queue: the
#     reschedule IPI is smp_wakeup, smp_xcall.S).  Keeps every register.
#
# Each AP: flat GDT (boot.S), the 256-entry IDT ap_idt that the BSP loads
# too (smp_intr.S; vectors 0x30 AP LAPIC timer, 0x31 wake, 0x40-0xBF device
# lines, 0xC0 cross-call, 0xFF spurious), a 4 KiB stack, a cpu_info in
# smp_cpus and one bound LWP (smp_lwps, LSONPROC for good: APs have no run
# queue of LWPs, only one of work items, smp_wq.S).  Its LAPIC timer ticks
# periodically (lapic_tick counts, divide 1: calibrated by the BSP against
# the PIT, smp_intr.S) and counts C_TICKS.  Between cross-calls and work
# items an AP halts with IF=1 (ap_loop).  Once the APs are up, the BSP's
# clock becomes its LAPIC timer and the device lines go through the IO APIC
# (smp_route, smp_intr.S).
        .include "kernel.inc"

        .equ LAPIC, 0xfee00000           # xAPIC registers (SDM vol. 3, table 10-1)
        .equ LAPIC_ID, LAPIC + 0x20
        .equ LAPIC_TPR, LAPIC + 0x80
        .equ LAPIC_EOI, LAPIC + 0xb0
        .equ LAPIC_SVR, LAPIC + 0xf0
        .equ LAPIC_ICR_LO, LAPIC + 0x300
        .equ LAPIC_ICR_HI, LAPIC + 0x310
        .equ LAPIC_LVT_TIMER, LAPIC + 0x320
        .equ LAPIC_LVT_LINT0, LAPIC + 0x350
        .equ LAPIC_LVT_LINT1, LAPIC + 0x360
        .equ LAPIC_LVT_ERROR, LAPIC + 0x370
        .equ LAPIC_TIMER_ICR, LAPIC + 0x380
        .equ LAPIC_TIMER_DCR, LAPIC + 0x3e0
        .equ SVR_ENABLE, 0x100
        .equ LVT_MASKED, 0x10000
        .equ LVT_PERIODIC, 0x20000
        .equ DCR_DIVIDE_1, 0xb
        .equ ICR_INIT, 0x500
        .equ ICR_STARTUP, 0x600
        .equ ICR_ASSERT, 0x4000
        .equ ICR_BUSY, 0x1000
        .equ TRAMPOLINE, 0x8000          # real-mode entry: SIPI vector 0x08
        .equ SIPI_VECTOR, TRAMPOLINE >> 12
        .equ TIMER_VECTOR, 0x30
        .equ WAKE_VECTOR, 0x31
        .equ SPURIOUS_VECTOR, 0xff
        .equ XCALL_VECTOR, 0xc0          # cross-calls, reschedule IPIs (smp_xcall.S)
        .equ AP_STACK_SIZE, 4096
        .equ AP_START_TICKS, 200         # PIT ticks to wait for one AP

        .data                            # code too: see SMP_BLOB in kernel.inc
smp_blob_start:
smp_init:
        push ebx
        push ecx
        push esi
        push edi
        xor eax, eax
        cmp [smp_inited], eax            # once only: a second call is a no-op
        jne 9f
        inc dword ptr [smp_inited]
        call smp_parse_cpus
        mov [smp_ncpus], eax
        cmp eax, 1
        jbe 8f
        call smp_timer_calibrate         # the IDT of every CPU, the BSP's LAPIC; lapic_tick
        mov esi, trampoline              # the trampoline below 1 MiB
        mov edi, TRAMPOLINE
        mov ecx, trampoline_end - trampoline
        cld
        rep movsb
        mov ebx, 1
1:      cmp ebx, [smp_ncpus]
        jae 7f
        mov edx, ebx                     # INIT, SIPI, SIPI to APIC ID EBX
        shl edx, 24
        mov eax, ICR_INIT | ICR_ASSERT
        call send_ipi
        mov eax, ICR_STARTUP | SIPI_VECTOR
        call send_ipi
        mov eax, ICR_STARTUP | SIPI_VECTOR
        call send_ipi
        mov ecx, AP_START_TICKS
2:      cmp [smp_started], ebx           # the AP counts itself in
        jae 3f
        push ecx
        mov edx, 1
        call tsleep                      # clobbers EAX, ECX, EDX
        pop ecx
        loop 2b
        mov eax, msg_ap_dead
        jmp 9f
3:      inc ebx
        jmp 1b
7:      call smp_route                   # LAPIC clock, IO APIC lines (smp_intr.S)
        PRINT msg_cpus                   # "smp: N cpus up"
        mov eax, [smp_ncpus]
        call putdec
        PRINT msg_cpus_up
8:      xor eax, eax
9:      pop edi
        pop esi
        pop ecx
        pop ebx
        ret

# smp_parse_cpus: EAX = N from `cpus=N` on the command line, or 1 (clamped 1-8)
smp_parse_cpus:
        push esi
        push edi
        mov eax, 1
        mov esi, [mb_info]
        test dword ptr [esi], 0x04       # multiboot flags bit 2: cmdline present
        jz 9f
        mov esi, [esi + 16]
1:      cmp byte ptr [esi], 0
        je 9f
        mov edi, key_cpus
        push esi
2:      mov cl, [edi]
        test cl, cl
        jz 3f
        cmp cl, [esi]
        jne 4f
        inc esi
        inc edi
        jmp 2b
3:      movzx eax, byte ptr [esi]        # one digit
        sub eax, '0'
        pop esi
        cmp eax, 1
        jge 5f
        mov eax, 1
5:      cmp eax, MAX_CPUS
        jle 9f
        mov eax, MAX_CPUS
        jmp 9f
4:      pop esi
        inc esi
        jmp 1b
9:      pop edi
        pop esi
        ret

# send_ipi: ICR high = EDX, low = EAX; waits until the APIC has sent it
send_ipi:
        mov [LAPIC_ICR_HI], edx
        mov [LAPIC_ICR_LO], eax
1:      test dword ptr [LAPIC_ICR_LO], ICR_BUSY
        jnz 1b
        ret

smp_kick:
        push eax
        push ecx
        push edx
        mov ecx, 1
1:      cmp ecx, [smp_ncpus]
        jae 3f
        mov edx, ecx                     # physical destination: APIC ID ECX
        shl edx, 24
        mov eax, WAKE_VECTOR
obs_ipi_send:                            # EAX = ICR low (fixed, WAKE_VECTOR), EDX = ICR high
        call send_ipi
        inc ecx
        jmp 1b
3:      pop edx
        pop ecx
        pop eax
        ret

smp_curcpu:
        mov eax, [LAPIC_ID]
        shr eax, 24
        test eax, eax
        jnz 1f
        mov eax, cpu0
        ret
1:      shl eax, 6                       # C_SIZE = 64
        add eax, smp_cpus
        ret

smp_run:
        call smp_post
        jmp smp_wait

# smp_post(EAX = function): start a cross-call on every AP and return at once
smp_post:
        mov [smp_func], eax
        mov dword ptr [smp_done], 0
        lock inc dword ptr [smp_generation]   # every AP runs the new call once
        jmp smp_kick

# smp_wait: the BSP sleeps a tick at a time until every AP finished the call
smp_wait:
        push ecx
        push edx
1:      mov ecx, [smp_ncpus]
        dec ecx
        cmp [smp_done], ecx
        jae 2f
        mov edx, 1
        call tsleep                      # clobbers EAX, ECX, EDX
        jmp 1b
2:      pop edx
        pop ecx
        ret

# ap_set_gate: ap_idt entry EBX -> interrupt gate to EAX (keeps EBX)
ap_set_gate:
        lea edx, [ap_idt + ebx*8]
        mov [edx], ax
        mov word ptr [edx + 2], KCODE
        mov word ptr [edx + 4], 0x8e00
        shr eax, 16
        mov [edx + 6], ax
        ret

# ap_entry32: the trampoline's far jump lands here, protected mode, IF=0
ap_entry32:
        mov ax, KDATA
        mov ds, ax
        mov es, ax
        mov fs, ax
        mov gs, ax
        mov ss, ax
        mov ebx, [LAPIC_ID]
        shr ebx, 24                      # EBX = APIC ID, for good
        lea eax, [ebx + 1]
        shl eax, 12                      # (id + 1) * AP_STACK_SIZE
        add eax, ap_stacks
obs_ap_stack:                            # EAX = this AP's stack top; the one ESP load
        mov esp, eax
        lidt [ap_idtr]
        call smp_curcpu
        mov esi, eax                     # ESI = this AP's cpu_info, for good
        mov [esi + C_SELF], esi
        mov [esi + C_ID], ebx
        mov dword ptr [esi + C_IPL], IPL_NONE
        mov edi, ebx                     # its bound LWP
        imul edi, edi, L_SIZE
        add edi, smp_lwps
        mov [edi + L_ID], ebx
        add dword ptr [edi + L_ID], 100
        mov dword ptr [edi + L_STATE], LSONPROC
        mov dword ptr [edi + L_PRIO], PRI_KTHREAD
        mov dword ptr [edi + L_BASEPRIO], PRI_KTHREAD
        mov dword ptr [edi + L_NAME], name_aplwp
        mov dword ptr [edi + L_LINE], NO_LINE
        mov eax, ebx                     # its stack [ap_stacks + id*4K, + 4K)
        shl eax, 12
        add eax, ap_stacks
        mov [edi + L_STACK_LO], eax
        add eax, AP_STACK_SIZE
        mov [edi + L_STACK_HI], eax
        mov [esi + C_CURLWP], edi
        mov [esi + C_IDLELWP], edi
        mov dword ptr [LAPIC_SVR], SVR_ENABLE | SPURIOUS_VECTOR
        mov dword ptr [LAPIC_TPR], 0
        mov dword ptr [LAPIC_LVT_LINT0], LVT_MASKED   # the 8259s stay the BSP's
        mov dword ptr [LAPIC_LVT_LINT1], LVT_MASKED
        mov dword ptr [LAPIC_LVT_ERROR], LVT_MASKED
        mov dword ptr [LAPIC_TIMER_DCR], DCR_DIVIDE_1
        mov dword ptr [LAPIC_LVT_TIMER], LVT_PERIODIC | TIMER_VECTOR
        mov eax, [lapic_tick]            # calibrated by the BSP
        mov [LAPIC_TIMER_ICR], eax
        mov eax, [smp_generation]
        mov [esi + C_NSWITCH], eax       # calls seen so far (none to run yet)
obs_cpu_up:                              # EBX = APIC ID, ESI = cpu_info, EDI = its LWP
        lock inc dword ptr [smp_started]
        # falls through to ap_loop

# ap_loop: halt until a cross-call with a new generation (run it, count
# it) or a work item in this CPU's queue or, failing that, in the busiest
# queue (smp_wq.S) — checked with IF=0, so a kick cannot slip in before hlt
ap_loop:
        cli
        mov eax, [smp_generation]
        cmp eax, [esi + C_NSWITCH]
        jne 1f
        call wq_get
        test eax, eax
        jnz 2f
obs_idle_ap:
        sti                              # sti; hlt: the wake IPI cannot slip in between
        hlt
        jmp ap_loop
2:      sti
        push ebx
        push esi
        call eax                         # the work item (EBX = APIC ID, ESI = cpu_info)
        pop esi
        pop ebx
        inc dword ptr [wq_ran + ebx*4]
        jmp ap_loop
1:      mov [esi + C_NSWITCH], eax
        sti
        push ebx
        push esi
        call [smp_func]
        pop esi
        pop ebx
        lock inc dword ptr [smp_done]
        jmp ap_loop

ap_timer_intr:
        push eax
        push esi
        call smp_curcpu
        inc dword ptr [eax + C_TICKS]
        mov dword ptr [LAPIC_EOI], 0
        pop esi
        pop eax
        iret

ap_wake_intr:
        mov dword ptr [LAPIC_EOI], 0
        iret

ap_spurious:                             # no EOI for the spurious vector (SDM 10.9)
        iret

ap_unexpected:
        PRINT msg_ap_unexpected
        mov al, 3
        jmp kernel_exit

# The AP trampoline: copied to TRAMPOLINE and entered in real mode at
# CS:IP = 0x0800:0000.  Loads the kernel's GDT, sets CR0.PE and far-jumps
# (66 EA off32 sel16) to ap_entry32.
        .code16
trampoline:
        cli
        mov ax, cs
        mov ds, ax
        lgdt [tramp_gdtr - trampoline]
        mov eax, cr0
        or eax, 1
        mov cr0, eax
        .byte 0x66, 0xea
        .long ap_entry32
        .short KCODE
        .align 4
tramp_gdtr:
        .short gdt_end - gdt - 1
        .long gdt
trampoline_end:
        .code32

        .data
        .align 4
smp_ncpus:      .long 1                  # CPUs asked for (cpus=N)
ap_idtr:        .short 256 * 8 - 1
                .long ap_idt
msg_cpus:       .asciz "smp: "
msg_cpus_up:    .asciz " cpus up\n"
key_cpus:       .asciz "cpus="
name_aplwp:     .asciz "ap"
msg_ap_dead:    .asciz "an AP did not start"
msg_ap_unexpected: .asciz "unexpected vector\n"

        .bss
        .align 4
smp_inited:     .space 4
smp_started:    .space 4                 # APs that reached ap_entry32
smp_func:       .space 4                 # the current cross-call
smp_generation: .space 4
smp_done:       .space 4                 # APs that finished it
        .align 16
ap_idt:         .space 256 * 8
smp_cpus:       .space MAX_CPUS * C_SIZE
smp_lwps:       .space MAX_CPUS * L_SIZE
ap_stacks:      .space (MAX_CPUS + 1) * AP_STACK_SIZE
