# pf.S — page faults as the CPU raises them (SDM 4.7): with paging on, a
# read of a not-present page is #PF with CR2 = the address and error code 0;
# the handler maps the page and returns, and the read runs again and
# completes; a supervisor write to a read-only page with CR0.WP = 1 is #PF
# with P|W (3); a call into a not-present page faults on the fetch (error 0:
# I/D stays 0 under 32-bit paging without SMEP); a 4-MiB page whose PDE has
# reserved bit 21 set faults with P|RSVD (9).  The IDT is loaded at its
# 0xC0000000 alias, so every delivery reads it through the page tables.
        .include "probe.inc"
        .include "cpu.inc"
        .include "paging.inc"

        .equ HOLE, 0x00800000          # PDE 2: not present
        .equ RO_PAGE, 0x00300000       # in the identity map, made read-only
        .equ FRAME, 0x00200000         # the frame the handler maps at HOLE

        .text
main:
        GATE 14, pf_handler, INT_GATE
        call map_low
        call paging_on
        lidt [idtr_high]
        mov dword ptr [FRAME], 0x1234abcd
read_hole:
        mov eax, [HOLE]                # #PF, mapped by the handler, read again
        cmp eax, 0x1234abcd
        sete al
        SHOW read_after_map
        PTE_OF RO_PAGE
        and dword ptr [edi], ~PG_W
        invlpg [RO_PAGE]
        mov dword ptr [RO_PAGE], 7     # #PF P|W; the handler makes it writable
        mov al, byte ptr [RO_PAGE]
        SHOW written_after_fix
        mov dword ptr [fix], 0
        mov eax, offset_after_fetch
        mov [resume], eax
        call HOLE + 0x401000           # PDE 2 again (a new page): fetch fault
offset_after_fetch:
        mov eax, cr4
        or eax, CR4_PSE
        mov cr4, eax
        mov dword ptr [pgdir + 3 * 4], 0x00000000 | PG_P | PG_W | PG_PS | 0x200000
        mov eax, [0x00c00010]          # reserved bit 21 in a 4-MiB PDE: the
                                       # handler resumes at offset_done

# the handler: print CR2 and the error code; map HOLE's page to FRAME when
# it is not present there, make RO_PAGE writable, else skip to [resume]
pf_handler:
        call show_pf
        push eax
        mov eax, cr2
        cmp eax, HOLE
        je map_hole
        cmp eax, RO_PAGE
        je make_writable
        mov eax, [resume]              # fetch or reserved-bit fault: go on
        mov [esp + 8], eax
        mov dword ptr [pgdir + 3 * 4], 0
        mov eax, offset_done
        mov [resume], eax
        pop eax
        add esp, 4
        iret
map_hole:
        mov dword ptr [pgdir + 2 * 4], pt_hole + PG_P + PG_W
        mov dword ptr [pt_hole], FRAME + PG_P + PG_W
        pop eax
        add esp, 4
        iret
make_writable:
        PTE_OF RO_PAGE
        or dword ptr [edi], PG_W
        invlpg [RO_PAGE]
        pop eax
        add esp, 4
        iret

offset_done:
        SAY resumed
        call newline
        jmp done

        .data
        .align 8
idtr_high: .short IDT_N * 8 - 1
        .long idt + KERNEL_ALIAS
fix:     .long 0
resume:  .long 0

        .bss
        .align 4096
pt_hole: .space 4096
