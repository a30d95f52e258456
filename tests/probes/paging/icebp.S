# icebp.S — INT1 / ICEBP (opcode 0xF1), SDM vol. 3A 6.15 (#DB) and vol. 2A
# INT n/INTO/INT3/INT1: it raises #DB as a trap (the saved EIP is the next
# instruction) and, unlike `int 1`, without the gate's DPL check -- from
# ring 3 it reaches a DPL 0 gate where `int 1` is #GP(1*8+2).
# Built with -D QEMU72 the icebps are left out: QEMU 7.2 raises #UD for
# 0xF1 (its translator has no INT1).
        .include "probe.inc"
        .include "cpu.inc"
        .include "paging.inc"
        .include "ring3.inc"

        .text
main:
        GATE 1, db_handler, INT_GATE   # DPL 0
        GATE 13, gp_handler, INT_GATE
        GATE 0x40, exit_handler, USER_GATE
        call map_low
        call paging_on
        call setup_ring3
        call load_idt
.ifndef QEMU72
        .byte 0xf1                     # icebp in ring 0
after_ring0:
        cmp dword ptr [saved_eip], after_ring0
        sete al
        SHOW ring0_db_eip_after
.endif
        to_ring3 user_main

user_main:
.ifndef QEMU72
        .byte 0xf1                     # icebp in ring 3: #DB, no DPL check
.endif
after_user_icebp:
        int 1                          # int 1 in ring 3: #GP(0x0a)
after_user_int1:
        int 0x40

db_handler:
        mov eax, [esp]
        mov [saved_eip], eax
        inc dword ptr [db_count]
        mov eax, [esp + 4]
        and eax, 3
        cmp eax, 3
        jne db_out
        cmp dword ptr [esp], after_user_icebp
        sete al
        SHOW ring3_db_eip_after
db_out:
        iret

gp_handler:
        mov eax, [esp]
        SHOW gp_error
        add esp, 4
        add dword ptr [esp], 2
        iret

exit_handler:
        mov al, byte ptr [db_count]
        SHOW db_count
        jmp done

        .data
        .align 4
saved_eip: .long 0
db_count:  .long 0
