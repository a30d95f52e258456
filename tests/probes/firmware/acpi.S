# acpi.S — the ACPI tables a -kernel guest finds, walked as a kernel does.
#
# ACPI 2.0 sections 5.2.4-5.2.10 (RSDP, RSDT, FADT, FACS, MADT), IA-PC HPET
# 1.0a 3.2.4, and QEMU 7.2's pc (hw/i386/acpi-build.c).  Built with -D
# NCPUS=N, run with N CPUs.  Expected output and why:
#   rsdp BOCHS  rev 0 checksum ok
#     (found on a 16-byte boundary in 0xE0000-0xFFFFF; revision 0: RSDT only)
#   rsdt rev 1 BXPC     checksum ok: FACP APIC HPET WAET
#   FACP rev 1 length 116 checksum ok: sci 9 smi b2 enable f1 disable f0
#   pm1a evt 0600/4 cnt 0604/2 tmr 0608/4 gpe0 afe0/4 century 32 flags 000080a5
#     (PIIX4's PM I/O at 0x600, its GPE0 at 0xAFE0; the PM timer is 24-bit:
#     flags bit 8 TMR_VAL_EXT clear)
#   FACS length 64 aligned waking vector 00000000
#   DSDT rev 1 checksum ok
#   APIC rev 1 checksum ok: lapic fee00000 flags 1
#   cpu 0 apic 0 enabled ... one line per CPU, ACPI ID = APIC ID = index
#   ioapic 0 at fec00000 gsi 0
#   irq 0 -> gsi 2 flags 00000000, irq 5/9/10/11 -> themselves flags 0000000d
#   nmi cpu ff lint 1
#     (the IO APIC is ID 0; ISA IRQ 0 arrives on pin 2; QEMU's PCI link
#     IRQs are level-triggered active high; LINT1 is every CPU's NMI)
#   HPET rev 1 checksum ok: id 8086a201 at fed00000 number 0
#   WAET rev 1 checksum ok: flags 00000002

.ifndef NCPUS
        .equ NCPUS, 1
.endif
        .include "lib.S"
        .include "fw.inc"

        .text
main:
        call find_rsdp
        test esi, esi
        jnz 1f
        PUTS msg_no_rsdp
        mov al, 4
        jmp exit
1:      mov ebx, esi
        PUTS msg_rsdp
        lea esi, [ebx + 9]
        mov ecx, 6
        call put_chars
        PUTS msg_rev
        movzx eax, byte ptr [ebx + 15]
        call putdec
        mov esi, ebx
        mov ecx, 20
        call say_checksum
        call newline

        mov ebx, [ebx + 16]                   # the RSDT
        PUTS msg_rsdt
        movzx eax, byte ptr [ebx + 8]
        call putdec
        call space
        lea esi, [ebx + 16]
        mov ecx, 8
        call put_chars
        mov esi, ebx
        mov ecx, [ebx + 4]
        call say_checksum
        mov al, ':'
        out DEBUGCON, al
        mov ecx, [ebx + 4]
        sub ecx, 36
        shr ecx, 2
        lea edi, [ebx + 36]
2:      call space
        mov esi, [edi]
        call putsig
        add edi, 4
        loop 2b
        call newline

        mov eax, 0x50434146                   # FACP
        call find_table
        call table_head
        PUTS msg_sci
        movzx eax, word ptr [esi + 46]
        call putdec
        PUTS msg_smi
        mov eax, [esi + 48]
        call puthex2
        PUTS msg_enable
        mov al, [esi + 52]
        call puthex2
        PUTS msg_disable
        mov al, [esi + 53]
        call puthex2
        call newline
        PUTS msg_evt
        mov eax, [esi + 56]
        movzx edx, byte ptr [esi + 88]
        call put_block
        PUTS msg_cnt
        mov eax, [esi + 64]
        movzx edx, byte ptr [esi + 89]
        call put_block
        PUTS msg_tmr
        mov eax, [esi + 76]
        movzx edx, byte ptr [esi + 91]
        call put_block
        PUTS msg_gpe0
        mov eax, [esi + 80]
        movzx edx, byte ptr [esi + 92]
        call put_block
        PUTS msg_century
        mov al, [esi + 108]
        call puthex2
        PUTS msg_flags
        mov eax, [esi + 112]
        call puthex
        call newline

        mov ebx, esi                          # FACS and DSDT, through the FADT
        mov esi, [ebx + 36]
        call putsig
        PUTS msg_length
        mov eax, [esi + 4]
        call putdec
        test esi, 63
        jnz 3f
        PUTS msg_aligned
3:      PUTS msg_waking
        mov eax, [esi + 12]
        call puthex
        call newline
        mov esi, [ebx + 40]
        call putsig
        PUTS msg_rev
        movzx eax, byte ptr [esi + 8]
        call putdec
        mov ecx, [esi + 4]
        call say_checksum
        call newline

        mov eax, 0x43495041                   # APIC
        call find_table
        call table_head
        PUTS msg_lapic
        mov eax, [esi + 36]
        call puthex
        PUTS msg_flags_short
        mov eax, [esi + 40]
        call putdec
        call newline
        mov ecx, [esi + 4]
        lea edi, [esi + ecx]                  # end
        add esi, 44
4:      cmp esi, edi
        jae 9f
        movzx eax, byte ptr [esi]
        cmp eax, 0
        je 5f
        cmp eax, 1
        je 6f
        cmp eax, 2
        je 7f
        cmp eax, 4
        je 8f
        PUTS msg_other
        call putdec
        call newline
        jmp 10f
5:      PUTS msg_cpu
        movzx eax, byte ptr [esi + 2]
        call putdec
        PUTS msg_apic
        movzx eax, byte ptr [esi + 3]
        call putdec
        test dword ptr [esi + 4], 1
        jz 10f
        PUTS msg_enabled
        jmp 10f
6:      PUTS msg_ioapic
        movzx eax, byte ptr [esi + 2]
        call putdec
        PUTS msg_at
        mov eax, [esi + 4]
        call puthex
        PUTS msg_gsi
        mov eax, [esi + 8]
        call putdec
        call newline
        jmp 10f
7:      PUTS msg_irq
        movzx eax, byte ptr [esi + 3]
        call putdec
        PUTS msg_to_gsi
        mov eax, [esi + 4]
        call putdec
        PUTS msg_flags_short
        movzx eax, word ptr [esi + 8]
        call puthex
        call newline
        jmp 10f
8:      PUTS msg_nmi
        mov al, [esi + 2]
        call puthex2
        PUTS msg_lint
        movzx eax, byte ptr [esi + 5]
        call putdec
        call newline
10:     movzx eax, byte ptr [esi + 1]
        add esi, eax
        jmp 4b

9:      mov eax, 0x54455048                   # HPET
        call find_table
        call table_head
        PUTS msg_id
        mov eax, [esi + 36]
        call puthex
        PUTS msg_at
        mov eax, [esi + 44]
        call puthex
        PUTS msg_number
        movzx eax, byte ptr [esi + 52]
        call putdec
        call newline
        mov eax, 0x54454157                   # WAET
        call find_table
        call table_head
        PUTS msg_flags
        mov eax, [esi + 36]
        call puthex
        call newline
        ret

# table_head: ESI = a table (or 0: exit 4); prints "SIG rev N checksum ok:".
table_head:
        test esi, esi
        jnz 1f
        PUTS msg_missing
        mov al, 4
        jmp exit
1:      call putsig
        PUTS msg_rev
        movzx eax, byte ptr [esi + 8]
        call putdec
        push ecx
        mov ecx, [esi + 4]
        cmp dword ptr [esi], 0x50434146
        jne 2f
        PUTS msg_length
        mov eax, ecx
        call putdec
2:      call say_checksum
        pop ecx
        mov al, ':'
        out DEBUGCON, al
        ret

# say_checksum: " checksum ok" or " checksum bad" for ECX bytes at ESI.
say_checksum:
        push eax
        call checksum
        test al, al
        jnz 1f
        PUTS msg_ok
        pop eax
        ret
1:      PUTS msg_bad
        pop eax
        ret

# put_block: " XXXX/L" for port EAX (its low 16 bits), length EDX.
put_block:
        push eax
        push eax
        mov al, ah
        call puthex2                          # the port's high byte (puthex2 turns EAX)
        pop eax
        call puthex2                          # its low byte
        mov al, '/'
        out DEBUGCON, al
        mov eax, edx
        call putdec
        pop eax
        ret

        .data
msg_no_rsdp:   .asciz "no RSDP\n"
msg_missing:   .asciz "a table is missing\n"
msg_rsdp:      .asciz "rsdp "
msg_rsdt:      .asciz "rsdt rev "
msg_rev:       .asciz " rev "
msg_ok:        .asciz " checksum ok"
msg_bad:       .asciz " checksum bad"
msg_length:    .asciz " length "
msg_sci:       .asciz " sci "
msg_smi:       .asciz " smi "
msg_enable:    .asciz " enable "
msg_disable:   .asciz " disable "
msg_evt:       .asciz "pm1a evt "
msg_cnt:       .asciz " cnt "
msg_tmr:       .asciz " tmr "
msg_gpe0:      .asciz " gpe0 "
msg_century:   .asciz " century "
msg_flags:     .asciz " flags "
msg_flags_short: .asciz " flags "
msg_aligned:   .asciz " aligned"
msg_waking:    .asciz " waking vector "
msg_lapic:     .asciz " lapic "
msg_cpu:       .asciz "cpu "
msg_apic:      .asciz " apic "
msg_enabled:   .asciz " enabled\n"
msg_ioapic:    .asciz "ioapic "
msg_at:        .asciz " at "
msg_gsi:       .asciz " gsi "
msg_irq:       .asciz "irq "
msg_to_gsi:    .asciz " -> gsi "
msg_nmi:       .asciz "nmi cpu "
msg_lint:      .asciz " lint "
msg_other:     .asciz "entry type "
msg_id:        .asciz " id "
msg_number:    .asciz " number "
