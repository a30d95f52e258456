# user.S — ring 3 and the TSS stack switch (SDM 6.12.1, 6.12.1.1): from
# ring 3, `int 0x40` through a DPL 3 gate enters the handler on SS0:ESP0 of
# the TSS and pushes the user SS and ESP above EFLAGS, CS, EIP (5 words);
# `int 0x41` through a DPL 0 gate is #GP with error code (0x41 << 3) | 2 = 0x20a and
# the frame's CS still ring 3; a PIT interrupt taken in ring 3 switches
# stacks the same way; a user write to a supervisor-only page is #PF with
# P|W|U (7); `iret` goes back to ring 3 each time.
        .include "probe.inc"
        .include "cpu.inc"
        .include "paging.inc"
        .include "ring3.inc"

        .equ KPAGE, 0x00300000            # made supervisor-only

        .text
main:
        GATE 0x40, sys_handler, USER_GATE
        GATE 0x41, sys_handler, INT_GATE
        GATE 13, gp_handler, INT_GATE
        GATE 14, pf_handler, INT_GATE
        GATE 0x20, tick_handler, INT_GATE
        call map_low
        call paging_on
        call setup_ring3
        PTE_OF KPAGE
        and dword ptr [edi], ~PG_U
        invlpg [KPAGE]
        call load_idt
        to_ring3 user_main

# ring 3 from here until the last int 0x40
user_main:
        mov eax, 1
        int 0x40                       # print the frame
        int 0x41                       # #GP(0x20a); the handler skips it
        mov eax, 2
        int 0x40                       # start the PIT, return with IF = 1
user_wait:
        cmp dword ptr [ticks], 0
        je user_wait
user_write:
        mov dword ptr [KPAGE], 1       # #PF P|W|U; the handler skips it
user_after_write:
        mov eax, 3
        int 0x40                       # done

sys_handler:
        cmp eax, 2
        je sys_timer
        cmp eax, 3
        je done
        mov eax, [esp + 4]
        SHOW sys_cs
        mov eax, [esp + 16]
        SHOW sys_ss
        mov eax, kstack_top - 20
        cmp eax, esp
        sete al
        SHOW sys_esp_ok
        cmp dword ptr [esp + 12], ustack_top
        sete al
        SHOW sys_user_esp_ok
        iret
sys_timer:
        mov al, 0x34                   # counter 0, mode 2, 1193 counts: 1 ms
        out PIT_CTRL, al
        mov al, 0xa9
        out PIT_CH0, al
        mov al, 0x04
        out PIT_CH0, al
        mov al, 0xfe
        out PIC1_DATA, al
        or dword ptr [esp + 8], 0x200  # IF in the user's EFLAGS
        iret

gp_handler:
        mov eax, [esp]
        push eax
        mov al, ah
        SAY gp_error
        call hex8
        pop eax
        call hex8
        call newline
        mov eax, [esp + 8]
        SHOW gp_cs
        add esp, 4
        add dword ptr [esp], 2         # past the 2-byte int 0x41
        iret

tick_handler:
        push eax
        mov al, 0x20
        out PIC1_CMD, al
        cmp dword ptr [ticks], 0
        jne tick_out
        mov eax, [esp + 8]
        SHOW tick_cs
        mov eax, [esp + 20]
        SHOW tick_ss
        mov al, 0xff                   # one tick is enough
        out PIC1_DATA, al
tick_out:
        inc dword ptr [ticks]
        pop eax
        iret

pf_handler:
        call show_pf
        mov eax, [esp + 8]
        SHOW pf_cs
        add esp, 4
        mov dword ptr [esp], user_after_write
        iret

        .data
        .align 4
ticks:  .long 0
