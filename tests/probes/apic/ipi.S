# ipi.S — inter-processor interrupts on 2 CPUs: destinations and shorthands.
#
# The AP enables its LAPIC (logical ID 0x02, flat model) and waits with
# IF=1; the BSP (logical ID 0x01) sends each IPI below, then a "fence" IPI
# of a lower priority class (vector 0x30) to the AP and halts until the
# AP's fence handler wakes it: the AP serves the higher class first (SDM
# 10.8.3), so when the fence is back every test IPI has arrived.  Each line gives how many times each CPU took
# the vector.  Expected, from SDM 10.6: physical dest 1 -> cpu1; self ->
# cpu0; all-excluding-self -> cpu1; all-including-self -> both; logical 0x02
# -> cpu1; logical 0x03 -> both; lowest priority to logical 0x03 -> exactly
# one CPU (irqlab's documented choice and QEMU's: the lowest APIC ID, cpu0);
# then both switch to the cluster model (DFR 0x0; LDR cluster 1, members
# bit 0 = BSP, bit 1 = AP): logical 0x12 -> cpu1, 0x13 -> both, 0x23 (cluster
# 2) -> nobody; NMI -> cpu1's NMI handler, not its IDT vector.

        .include "lib.S"
        .equ FENCE_VECTOR, 0x30
        .equ TEST_VECTOR, 0x40       # test vectors 0x40..0x49
        .equ CLUSTER_VECTOR, 0x32    # asks the AP to switch to the cluster model
        .equ LDR_BSP, 0x01
        .equ LDR_AP, 0x02

        .text
main:
        call lapic_enable
        mov dword ptr [LAPIC_DFR], 0xffffffff
        mov dword ptr [LAPIC_LDR], LDR_BSP << 24
        .irp n, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9
        SET_GATE TEST_VECTOR + \n, ipi_\n
        .endr
        SET_GATE FENCE_VECTOR, fence_handler
        SET_GATE CLUSTER_VECTOR, cluster_handler
        SET_GATE 2, nmi_handler
        mov dword ptr [ap_main], ap_serve
        mov eax, 1
        call start_ap
        sti

        mov edx, 1 << 24             # physical, APIC ID 1
        mov eax, TEST_VECTOR + 0
        call step
        mov eax, ICR_SELF | (TEST_VECTOR + 1)
        call step
        mov eax, ICR_OTHERS | (TEST_VECTOR + 2)
        call step
        mov eax, ICR_ALL | (TEST_VECTOR + 3)
        call step
        mov edx, LDR_AP << 24
        mov eax, ICR_LOGICAL | (TEST_VECTOR + 4)
        call step
        mov edx, (LDR_BSP | LDR_AP) << 24
        mov eax, ICR_LOGICAL | (TEST_VECTOR + 5)
        call step
        mov eax, ICR_LOGICAL | 0x100 | (TEST_VECTOR + 6)   # lowest priority
        call step
        mov edx, 1 << 24             # the AP switches itself (its handler)
        mov eax, CLUSTER_VECTOR
        call send_ipi
        call fence
        mov dword ptr [LAPIC_DFR], 0x0fffffff
        mov dword ptr [LAPIC_LDR], 0x11 << 24
        mov edx, 0x12 << 24
        mov eax, ICR_LOGICAL | (TEST_VECTOR + 7)
        call step
        mov edx, 0x13 << 24
        mov eax, ICR_LOGICAL | (TEST_VECTOR + 8)
        call step
        mov edx, 0x23 << 24
        mov eax, ICR_LOGICAL | (TEST_VECTOR + 9)
        call step
        mov edx, 1 << 24
        mov eax, ICR_NMI             # NMI beats the fence's maskable interrupt
        call send_ipi
        call fence
        PUTS msg_nmi
        mov eax, [nmis + 4]
        call putdec
        call newline
        ret

# step: send the IPI (EAX = ICR low, EDX = ICR high), fence, print one line.
step:
        pushad
        mov ebx, eax
        call send_ipi
        call fence
        PUTS msg_vec
        mov eax, ebx
        call puthex2
        PUTS msg_cpu0
        movzx ecx, bl
        movzx eax, byte ptr [hits + ecx - TEST_VECTOR]
        call putdec
        PUTS msg_cpu1
        movzx eax, byte ptr [hits + 16 + ecx - TEST_VECTOR]
        call putdec
        call newline
        popad
        ret

# fence: IPI FENCE_VECTOR to APIC 1 and halt until its handler has run.
fence:
        pushad
        mov byte ptr [fenced], 0
        mov edx, 1 << 24
        mov eax, FENCE_VECTOR
        call send_ipi
        mov esi, fenced
        call wait_flag
        popad
        ret

# ap_serve (AP): enable the LAPIC, logical ID 0x02, report ready, serve forever.
ap_serve:
        call lapic_enable
        mov dword ptr [LAPIC_DFR], 0xffffffff
        mov dword ptr [LAPIC_LDR], LDR_AP << 24
        call ap_signal_done
        sti
1:      hlt
        jmp 1b

        .irp n, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9
ipi_\n:
        push eax
        mov eax, \n
        jmp ipi_common
        .endr

# ipi_common: count vector TEST_VECTOR + EAX for this CPU, EOI.
ipi_common:
        push ebx
        mov ebx, [LAPIC_ID]
        shr ebx, 24
        shl ebx, 4
        inc byte ptr [hits + ebx + eax]
        mov dword ptr [LAPIC_EOI], 0
        pop ebx
        pop eax
        iret

# fence_handler (AP): flag the fence and wake the BSP.
fence_handler:
        push eax
        mov byte ptr [fenced], 1
        mov dword ptr [LAPIC_EOI], 0
        xor eax, eax
        call wake
        pop eax
        iret

# cluster_handler (AP): cluster model, cluster 1, member bit 1.
cluster_handler:
        mov dword ptr [LAPIC_DFR], 0x0fffffff
        mov dword ptr [LAPIC_LDR], 0x12 << 24
        mov dword ptr [LAPIC_EOI], 0
        iret

nmi_handler:
        push eax
        mov eax, [LAPIC_ID]
        shr eax, 24
        inc dword ptr [nmis + eax * 4]
        pop eax
        iret

        .data
msg_vec:  .asciz "vector "
msg_cpu0: .asciz ": cpu0 "
msg_cpu1: .asciz " cpu1 "
msg_nmi:  .asciz "nmi: cpu1 "
        .align 4
fenced: .byte 0
        .align 4
nmis:   .long 0, 0
hits:   .fill 32, 1, 0
