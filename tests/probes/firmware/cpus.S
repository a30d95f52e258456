# cpus.S — find the CPUs as a kernel written for QEMU does, and start them.
#
# The count comes from fw_cfg (item 5, FW_CFG_NB_CPUS) and the APIC IDs from
# the MADT's Processor Local APIC entries (ACPI 2.0 5.2.10.4, enabled flag
# set); every AP but the BSP is started by INIT-SIPI-SIPI (SDM 8.4.4.1,
# lib.S's start_ap) and prints its APIC ID.  Built with -D NCPUS=N, run
# with N CPUs.  Expected output:
#   fw_cfg: N cpus
#   madt: N local apics: 00 01 ... (in table order = APIC ID order on QEMU)
#   AP apic 01 up ... one line per AP, in MADT order
#   N-1 aps started from the madt, N cpus running
# and the probe fails (exit 5) if the two counts disagree.

.ifndef NCPUS
        .equ NCPUS, 2
.endif
        .include "lib.S"
        .include "fw.inc"

        .text
main:
        PUTS msg_fw
        mov eax, 5
        call fw_select
        mov ecx, 2
        call fw_le
        mov [fw_cpus], eax
        call putdec
        PUTS msg_cpus

        mov eax, 0x43495041                   # APIC
        call find_table
        test esi, esi
        jnz 1f
        mov al, 4
        jmp exit
1:      mov ecx, [esi + 4]
        lea edi, [esi + ecx]
        add esi, 44
        xor ebx, ebx                          # local APICs found
2:      cmp esi, edi
        jae 4f
        cmp byte ptr [esi], 0
        jne 3f
        test dword ptr [esi + 4], 1
        jz 3f
        movzx eax, byte ptr [esi + 3]
        mov [apic_ids + ebx], al
        inc ebx
3:      movzx eax, byte ptr [esi + 1]
        add esi, eax
        jmp 2b
4:      mov [madt_cpus], ebx
        PUTS msg_madt
        mov eax, ebx
        call putdec
        PUTS msg_lapics
        xor ecx, ecx
5:      cmp ecx, ebx
        jae 6f
        call space
        movzx eax, byte ptr [apic_ids + ecx]
        call puthex2
        inc ecx
        jmp 5b
6:      call newline
        mov eax, [fw_cpus]
        cmp eax, [madt_cpus]
        je 7f
        PUTS msg_disagree
        mov al, 5
        jmp exit

7:      mov dword ptr [ap_main], ap_hello
        call apic_id
        mov edx, eax                          # the BSP's own ID: not started
        xor ecx, ecx
        xor edi, edi                          # APs started
8:      cmp ecx, [madt_cpus]
        jae 9f
        movzx eax, byte ptr [apic_ids + ecx]
        cmp eax, edx
        je 10f
        call start_ap
        inc edi
10:     inc ecx
        jmp 8b
9:      mov eax, edi
        call putdec
        PUTS msg_started
        lea eax, [edi + 1]
        call putdec
        PUTS msg_running
        ret

# ap_hello (AP, EBX = APIC ID): one line.
ap_hello:
        PUTS msg_ap
        mov eax, ebx
        call puthex2
        PUTS msg_up
        ret

        .data
fw_cpus:   .long 0
madt_cpus: .long 0
apic_ids:  .fill MAX_CPUS, 1, 0
msg_fw:       .asciz "fw_cfg: "
msg_cpus:     .asciz " cpus\n"
msg_madt:     .asciz "madt: "
msg_lapics:   .asciz " local apics:"
msg_disagree: .asciz "fw_cfg and the madt disagree\n"
msg_ap:       .asciz "AP apic "
msg_up:       .asciz " up\n"
msg_started:  .asciz " aps started from the madt, "
msg_running:  .asciz " cpus running\n"
