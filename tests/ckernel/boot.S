/* boot.S -- the multiboot entry of the C test kernel (GNU as).
 *
 * Contract: the boot loader (QEMU -kernel, irqlab's loader) enters _start in
 * 32-bit protected mode, flat segments, IF=0, paging off, EAX = 0x2BADB002.
 * _start loads a stack (boot_stack, 16 KiB) and calls kmain(), which never
 * returns.  The header below is Multiboot v1 with no flags: an ELF kernel
 * is loaded from its program headers.
 */
        .set MB_MAGIC, 0x1BADB002
        .set MB_FLAGS, 0
        .section .multiboot, "a"
        .align 4
        .long MB_MAGIC
        .long MB_FLAGS
        .long -(MB_MAGIC + MB_FLAGS)

        .text
        .globl _start
_start:
        mov $boot_stack_top, %esp
        call kmain
1:      cli
        hlt
        jmp 1b

        .bss
        .align 16
        .globl boot_stack
boot_stack:
        .space 16384
        .globl boot_stack_top
boot_stack_top:

        .section .note.GNU-stack, "", @progbits
