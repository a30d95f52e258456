# fw_cfg.S — QEMU's firmware configuration interface at 0x510/0x511 (+ DMA).
#
# docs/specs/fw_cfg.txt in QEMU and its x86 items (hw/i386/fw_cfg.c).  Built
# with -D NCPUS=N and run with N CPUs and 32 MiB.  Expected output and why:
#   signature QEMU id 00000003
#     (item 0 is "QEMU"; item 1 says traditional interface + DMA)
#   cpus N max N ram 0000000002000000
#     (items 5 and 0x0f: u16 little-endian; item 3: u64, 32 MiB)
#   irq0 override 00000001 hpet blocks 1 id 8086a201 at fed00000
#     (0x8002: ISA IRQ 0 is on IO APIC input 2; 0x8004: one HPET block)
#   etc/acpi/rsdp: 20 bytes, RSD PTR  BOCHS  rev 0
#     (a revision-0 RSDP: the signature, the OEM ID; its checksum and
#     RSDT address are where QEMU and irqlab differ: see fw_cfg.py)
#   etc/boot-fail-wait: 4 bytes, ffffffff
#   etc/e820: 20 bytes, ram at 00000000 size 02000000 type 1
#   etc/system-states: 6 bytes, 80 00 00 81 82 80
#     (found by name in the big-endian file directory, item 0x19; S3 and S4
#     enabled with SLP_TYP 1 and 2, S5 with 0)
#   dma: QEMU CFG, read QEMU, control 00000000
#     (0x514/0x518 read as the signature; a DMA request SELECT|READ of item
#     0 copies "QEMU" and the device writes the control word back as 0)

.ifndef NCPUS
        .equ NCPUS, 1
.endif
        .include "lib.S"
        .include "fw.inc"
        .equ FW_DIR, 0x19

        .text
main:
        PUTS msg_sig
        xor eax, eax
        call fw_select
        mov ecx, 4
1:      call fw_byte
        out DEBUGCON, al
        loop 1b
        PUTS msg_id
        mov eax, 1
        call fw_select
        mov ecx, 4
        call fw_le
        call puthex
        call newline

        PUTS msg_cpus
        mov eax, 5
        call fw_select
        mov ecx, 2
        call fw_le
        call putdec
        PUTS msg_max
        mov eax, 0x0f
        call fw_select
        mov ecx, 2
        call fw_le
        call putdec
        PUTS msg_ram
        mov eax, 3
        call fw_select
        mov ecx, 4
        call fw_le
        mov ebx, eax
        mov ecx, 4
        call fw_le
        call puthex
        mov eax, ebx
        call puthex
        call newline

        PUTS msg_irq0
        mov eax, 0x8002
        call fw_select
        mov ecx, 4
        call fw_le
        call puthex
        PUTS msg_hpet
        mov eax, 0x8004
        call fw_select
        mov ecx, 1
        call fw_le
        call putdec
        PUTS msg_hpet_id
        mov ecx, 4
        call fw_le
        call puthex
        PUTS msg_at
        mov ecx, 4
        call fw_le
        call puthex
        call newline

        mov esi, name_rsdp
        call show_file
        mov ecx, 8                            # signature, checksum, OEM ID, revision
        call fw_string
        call fw_byte
        call space
        mov ecx, 6
        call fw_string
        PUTS msg_rev
        call fw_byte
        movzx eax, al
        call putdec
        call newline
        mov esi, name_fail
        call show_file
        mov ecx, 4
        call fw_le
        call puthex
        call newline
        mov esi, name_e820
        call show_file
        PUTS msg_ram_at
        mov ecx, 4
        call fw_le
        call puthex
        mov ecx, 4
        call fw_le
        PUTS msg_size
        mov ecx, 4
        call fw_le
        call puthex
        mov ecx, 4
        call fw_le
        PUTS msg_type
        mov ecx, 4
        call fw_le
        call putdec
        call newline
        mov esi, name_states
        call show_file
        mov ecx, 6
1:      call fw_byte
        call puthex2
        cmp ecx, 1
        je 2f
        call space
2:      loop 1b
        call newline

        # DMA: the signature registers, then one SELECT|READ request
        PUTS msg_dma
        mov dx, 0x514
        in eax, dx
        mov [dma_sig], eax
        mov dx, 0x518
        in eax, dx
        mov [dma_sig + 4], eax
        mov esi, dma_sig
        mov ecx, 8
1:      lodsb
        out DEBUGCON, al
        loop 1b
        mov dword ptr [dma_req], 0x0a000000          # big-endian 0x0000000a: SELECT|READ, key 0
        mov dword ptr [dma_req + 4], 0x04000000      # length 4
        mov dword ptr [dma_req + 8], 0
        mov eax, dma_buf
        bswap eax
        mov [dma_req + 12], eax
        mov dx, 0x514
        xor eax, eax
        out dx, eax
        mov eax, dma_req
        bswap eax
        mov dx, 0x518
        out dx, eax
        PUTS msg_read
        mov esi, dma_buf
        mov ecx, 4
1:      lodsb
        out DEBUGCON, al
        loop 1b
        PUTS msg_control
        mov eax, [dma_req]
        call puthex
        call newline
        ret

# show_file: find the file named at ESI in the directory, select it and
# print "NAME: SIZE bytes, ".  Exits with 4 if it is missing.
show_file:
        pushad
        mov eax, FW_DIR
        call fw_select
        call fw_be32
        mov ebx, eax                          # files left
1:      test ebx, ebx
        jz 9f
        call fw_be32
        mov [file_size], eax
        mov ecx, 2
        call fw_le
        xchg al, ah                           # the select key is big-endian
        mov [file_key], eax
        call fw_byte
        call fw_byte
        mov edi, file_name
        mov ecx, 56
2:      call fw_byte
        stosb
        loop 2b
        push esi
        mov edi, file_name
3:      mov al, [esi]
        cmp al, [edi]
        jne 4f
        inc esi
        inc edi
        test al, al
        jnz 3b
        pop esi
        jmp 5f
4:      pop esi
        dec ebx
        jmp 1b
5:      PUTS file_name
        mov al, ':'
        out DEBUGCON, al
        call space
        mov eax, [file_size]
        call putdec
        PUTS msg_bytes
        mov eax, [file_key]
        call fw_select
        popad
        ret
9:      PUTS msg_missing
        mov al, 4
        jmp exit

# fw_string: print the next ECX bytes of the item as characters.
fw_string:
        push eax
1:      call fw_byte
        out DEBUGCON, al
        loop 1b
        pop eax
        ret

        .data
name_rsdp:   .asciz "etc/acpi/rsdp"
name_fail:   .asciz "etc/boot-fail-wait"
name_e820:   .asciz "etc/e820"
name_states: .asciz "etc/system-states"
msg_sig:     .asciz "signature "
msg_id:      .asciz " id "
msg_cpus:    .asciz "cpus "
msg_max:     .asciz " max "
msg_ram:     .asciz " ram "
msg_irq0:    .asciz "irq0 override "
msg_hpet:    .asciz " hpet blocks "
msg_hpet_id: .asciz " id "
msg_at:      .asciz " at "
msg_rev:     .asciz " rev "
msg_ram_at:  .asciz "ram at "
msg_size:    .asciz " size "
msg_type:    .asciz " type "
msg_bytes:   .asciz " bytes, "
msg_missing: .asciz "a file is missing\n"
msg_dma:     .asciz "dma: "
msg_read:    .asciz ", read "
msg_control: .asciz ", control "
        .align 16
dma_req:  .space 16
dma_buf:  .space 16
dma_sig:  .space 8
file_size: .long 0
file_key:  .long 0
file_name: .space 57
