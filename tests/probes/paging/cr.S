# cr.S — control registers and CPUID (SDM vol. 2A MOV CR and CPUID; vol. 3A
# 2.5).  Writing a reserved bit of CR4 is #GP(0) with EIP at the mov, and
# CR4 keeps its value; so is setting CR0.PG with CR0.PE clear, and CR0.NW
# with CR0.CD clear.  A write to CR3 has no reserved bits under 32-bit
# paging.  CPUID leaf 0 names the vendor and the highest leaf; leaf 1 gives
# the family/model/stepping and, in EDX, the features the machine models.
# Built with -D QEMU72 the three #GP checks are left out: QEMU 7.2 takes a
# reserved CR4 bit as an SVM exit and stops, and checks neither CR0 rule.
        .include "probe.inc"
        .include "cpu.inc"
        .include "paging.inc"

        .text
main:
        GATE 13, gp_handler, INT_GATE
        call load_idt
.ifndef QEMU72
        mov eax, cr4
        or eax, 1 << 15                # reserved in every CPU
        mov dword ptr [resume], after_cr4
cr4_insn:
        mov cr4, eax
after_cr4:
        mov eax, cr4
        shr eax, 15
        and al, 1
        SHOW cr4_bit15
        mov eax, cr4
        or eax, 1 << 5                 # PAE: not reported by CPUID, so reserved
        mov dword ptr [resume], after_pae
        mov cr4, eax
after_pae:
        mov eax, cr4
        shr eax, 5
        and al, 1
        SHOW cr4_pae
        mov eax, cr0
        and eax, ~1
        or eax, CR0_PG
        mov dword ptr [resume], after_pg
        mov cr0, eax                   # PG without PE
after_pg:
        mov eax, cr0
        shr eax, 31
        SHOW cr0_pg
        mov eax, cr0
        or eax, 1 << 29                # NW without CD
        and eax, ~(1 << 30)
        mov dword ptr [resume], after_nw
        mov cr0, eax
after_nw:
        mov eax, cr0
        shr eax, 29
        and al, 1
        SHOW cr0_nw
        mov eax, cr4
        or eax, CR4_PSE                # allowed: PSE is reported
        mov cr4, eax
        mov eax, cr4
        shr eax, 4
        and al, 1
        SHOW cr4_pse
.endif
        mov eax, 0x12345fff
        mov cr3, eax                   # paging is off: any value loads
        mov eax, cr3
        shr eax, 12
        SHOW cr3_loaded
        xor eax, eax
        cpuid
        mov [vendor], ebx
        mov [vendor + 4], edx
        mov [vendor + 8], ecx
        SAY vendor
        mov al, ' '
        call putc
        PUTS vendor
        call newline
        mov eax, 1
        cpuid
        push edx
        push eax
        SAY leaf1_eax
        mov al, ' '
        call putc
        pop eax
        call hex32
        call newline
        SAY leaf1_edx
        mov al, ' '
        call putc
        pop eax
        call hex32
        call newline
        jmp done

gp_handler:
        mov eax, [esp]
        SHOW gp_error
.ifndef QEMU72
        cmp dword ptr [esp + 4], cr4_insn
        jne gp_resume
        mov al, 1
        SHOW gp_eip_at_mov
gp_resume:
.endif
        add esp, 4
        mov eax, [resume]
        mov [esp], eax
        iret

        .data
        .align 4
resume: .long 0
vendor: .space 16
