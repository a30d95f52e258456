# ap_start.S — start every AP by INIT-SIPI-SIPI, one at a time.
#
# Built with -D NCPUS=N and run with N CPUs.  The BSP starts APIC IDs 1..N-1
# in order, each through the real-mode trampoline at 0x8000 (SIPI vector
# 0x08); each AP prints its APIC ID and what INIT left in its LAPIC (SDM
# 10.4.7.3: SVR 0xFF, LVTs masked), then the BSP prints the count.
# Expected (SDM 8.4.4.1): one line per AP, in APIC ID order, then "N cpus up".

.ifndef NCPUS
        .equ NCPUS, 2
.endif
        .include "lib.S"

        .text
main:
        PUTS msg_bsp
        call apic_id
        call puthex2
        call newline
        mov dword ptr [ap_main], ap_hello
        mov eax, 1
1:      cmp eax, NCPUS
        jae 2f
        call start_ap
        inc eax
        jmp 1b
2:      mov eax, NCPUS
        call putdec
        PUTS msg_up
        ret

# ap_hello: runs on each AP (EBX = APIC ID); prints one line.
ap_hello:
        PUTS msg_ap
        mov eax, ebx
        call puthex2
        PUTS msg_ver
        mov eax, [LAPIC_VER]
        call puthex
        PUTS msg_svr
        mov eax, [LAPIC_SVR]
        call puthex
        PUTS msg_lint0
        mov eax, [LAPIC_LVT_LINT0]
        call puthex
        call newline
        ret

        .data
msg_bsp:   .asciz "BSP apic "
msg_ap:    .asciz "AP apic "
msg_ver:   .asciz " up: version "
msg_svr:   .asciz " svr "
msg_lint0: .asciz " lint0 "
msg_up:    .asciz " cpus up\n"
