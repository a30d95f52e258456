# smp.S — starting the other CPUs (application processors).
#
# smp_start(): main (LWP 0, CPU 0), thread context, IF=1, IPL_NONE, once,
#     after the drivers are up on the 8259s and the PIT.  With cpus=1 it
#     does nothing: the kernel stays on the 8259s.  With ncpus = N > 1 it
#     calibrates the LAPIC timer against the PIT (lapic_calibrate), makes
#     the APICs the interrupt controller (apic_switch, apic.S: from here on
#     every CPU's clock is its LAPIC timer and every line goes through the
#     IO APIC to the CPU its route names), then for each APIC ID 1..N-1: its
#     per-CPU data (cpu_init) and idle LWP (idle_create), the trampoline at
#     0x8000, INIT, SIPI, SIPI (SDM 8.4.4.1), and waits (tsleep, bounded)
#     until it counts itself in smp_started.  Prints "smp: N cpus up".
#     EAX = 0, or a reason string when an AP did not start.  Clobbers EBX-EDX.
# ap_entry32: where the trampoline's far jump lands, protected mode, IF=0:
#     the AP loads the kernel's segments, its own per-CPU segment (KPERCPU +
#     8 * its APIC ID: GS), the IDT every CPU shares, moves onto its idle
#     LWP's stack (the one ESP load, at obs_ap_stack) and becomes that LWP,
#     sets up its LAPIC (lapic_local_init: its clock ticks from now on),
#     counts itself in and enters its idle loop, from which it runs whatever
#     LWPs are queued on it or it takes from the busiest other CPU.
# The trampoline (copied to TRAMPOLINE, entered in real mode at CS:IP =
# 0x0800:0000) loads the kernel's GDT, sets CR0.PE and far-jumps (66 EA
# off32 sel16) to ap_entry32.
        .include "kernel.inc"

        .equ LAPIC_ICR_INIT, 0x500
        .equ LAPIC_ICR_STARTUP, 0x600
        .equ ICR_ASSERT, 0x4000
        .equ TRAMPOLINE, 0x8000          # real-mode entry: SIPI vector 0x08
        .equ SIPI_VECTOR, TRAMPOLINE >> 12
        .equ AP_START_TICKS, 200         # PIT ticks to wait for one AP

        .text
smp_start:
        push esi
        push edi
        xor eax, eax
        cmp dword ptr [ncpus], 1
        jbe 9f
        call lapic_calibrate             # on the PIT, before it goes quiet
        call apic_switch
        mov esi, trampoline              # the trampoline below 1 MiB
        mov edi, TRAMPOLINE
        mov ecx, trampoline_end - trampoline
        cld
        rep movsb
        mov ebx, 1
1:      cmp ebx, [ncpus]
        jae 7f
        mov eax, ebx                     # its per-CPU data and idle LWP
        call cpu_init
        mov eax, ebx
        call idle_create
        mov edx, ebx                     # INIT, SIPI, SIPI to APIC ID EBX
        shl edx, 24
        mov eax, LAPIC_ICR_INIT | ICR_ASSERT
        call lapic_ipi
        mov eax, LAPIC_ICR_STARTUP | SIPI_VECTOR
        call lapic_ipi
        mov eax, LAPIC_ICR_STARTUP | SIPI_VECTOR
        call lapic_ipi
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
7:      PRINT msg_cpus                   # "smp: N cpus up"
        mov eax, [ncpus]
        call putdec
        PRINT msg_cpus_up
        xor eax, eax
9:      pop edi
        pop esi
        ret

ap_entry32:
        mov ax, KDATA
        mov ds, ax
        mov es, ax
        mov fs, ax
        mov ss, ax
        mov ebx, [LAPIC_ID]
        shr ebx, 24                      # EBX = APIC ID = this CPU's index
        lea eax, [ebx*8 + KPERCPU]
        mov gs, ax                       # its per-CPU data
        lidt [idtr]
        mov edi, gs:[C_IDLELWP]          # its idle LWP, made by smp_start
        mov eax, [edi + L_STACK_HI]
        sub eax, 4
obs_ap_stack:                            # EAX = the idle LWP's stack, one word below the top
        mov esp, eax
        mov gs:[C_CURLWP], edi
        mov dword ptr [edi + L_STATE], LSONPROC
        inc dword ptr [edi + L_NRUN]
        call lapic_local_init            # its clock, its TPR (IPL_HIGH until idle)
        CURCPU esi
obs_cpu_up:                              # EBX = APIC ID, ESI = its per-CPU data, EDI = its idle LWP
        lock inc dword ptr [smp_started]
        jmp idle_loop

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
smp_started:    .long 0                  # APs that reached ap_entry32
msg_cpus:       .asciz "smp: "
msg_cpus_up:    .asciz " cpus up\n"
msg_ap_dead:    .asciz "an AP did not start"
