# hello.S — the smallest irqlab Multiboot program (asm's QEMU boot test).
#
# Entered by a Multiboot loader in 32-bit protected mode, IF=0, paging off,
# EAX = 0x2BADB002, EBX = Multiboot info.  Loads its own GDT (flat code and
# data), writes "hello from asm" to the debug console (port 0xE9) and exits
# through isa-debug-exit (port 0xF4) with the value EXIT_CODE.
# Exercises the assembler's quirk workarounds on a real CPU: lgdt with a
# 32-bit base, a far jump to a label, push of a label, .short label & 0xffff.

        .equ DEBUGCON, 0xe9         # QEMU -debugcon / irqlab console
        .equ EXIT_PORT, 0xf4        # isa-debug-exit
        .equ KERNEL_CS, 0x08
        .equ KERNEL_DS, 0x10
.ifndef EXIT_CODE
        .equ EXIT_CODE, 0
.endif

.macro PUTS str
        mov esi, \str
        call puts
.endm

        .text
_start:
        mov esp, stack_top
        lgdt [gdtr]
        jmp KERNEL_CS:1f            # reload CS from our GDT
1:      mov ax, KERNEL_DS
        mov ds, ax
        mov es, ax
        mov ss, ax
        push msg                    # push of a label (68 id)
        pop esi
        call puts
        PUTS tail
        mov al, EXIT_CODE
        out EXIT_PORT, al
2:      hlt                         # not reached under QEMU
        jmp 2b

# puts: write the NUL-terminated string at ESI to DEBUGCON; clobbers AL, ESI.
puts:
1:      lodsb
        test al, al
        jz 2f
        out DEBUGCON, al
        jmp 1b
2:      ret

        .data
        .align 8
gdt:    .quad 0                     # null descriptor
        .quad 0x00cf9a000000ffff    # 0x08: code, base 0, limit 4 GiB
        .quad 0x00cf92000000ffff    # 0x10: data, base 0, limit 4 GiB
gdt_end:
gdtr:   .short gdt_end - gdt - 1
        .long gdt
msg:    .ascii "hello "
        .byte 'f', 'r', 'o', 'm'
        .asciz " asm"
tail:   .asciz "\n"
msg_lo: .short msg & 0xffff         # 16-bit data fixup (keystone cannot)

        .bss
        .align 16
        .space 4096
stack_top:
