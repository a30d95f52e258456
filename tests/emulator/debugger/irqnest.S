# irqnest.S — a guest for the debugger's interrupt tests: the 8259 pair at
# vectors 0x20/0x28 with only IRQ 3 and IRQ 5 unmasked; main spins with IF=1.
# IRQ 5's handler re-enables interrupts and waits for IRQ 3 (higher priority,
# so it nests), whose handler calls deep3.  The debugger raises the lines.
        .equ KERNEL_CS, 0x08
        .equ KERNEL_DS, 0x10
        .equ EXIT_PORT, 0xf4

_start:
        mov esp, stack_top
        lgdt [gdtr]
        .byte 0xea
        .long reload
        .short KERNEL_CS
reload:
        mov ax, KERNEL_DS
        mov ds, ax
        mov es, ax
        mov fs, ax
        mov gs, ax
        mov ss, ax
        mov eax, irq5
        mov edi, idt + 8 * 0x25
        call set_gate
        mov eax, irq3
        mov edi, idt + 8 * 0x23
        call set_gate
        lidt [idtr]
        call pic_init
        sti
main_loop:
        inc ecx
        jmp main_loop

# pic_init: ICW1-4 for both chips (edge, cascade on 2), vectors 0x20/0x28,
# mask all but IRQ 3 and 5.  Clobbers AL.
pic_init:
        mov al, 0x11
        out 0x20, al
        out 0xa0, al
        mov al, 0x20
        out 0x21, al
        mov al, 0x28
        out 0xa1, al
        mov al, 4
        out 0x21, al
        mov al, 2
        out 0xa1, al
        mov al, 1
        out 0x21, al
        out 0xa1, al
        mov al, 0xd7
        out 0x21, al
        mov al, 0xff
        out 0xa1, al
        ret

irq5:
        sti
wait3:
        cmp byte ptr [flag3], 0
        je wait3
        mov al, 0x20
        out 0x20, al
        iret

irq3:
        call deep3
        mov byte ptr [flag3], 1
        mov al, 0x20
        out 0x20, al
        iret

deep3:
        nop
        ret

# set_gate: interrupt gate at EDI to handler EAX; clobbers EAX, EDX.
set_gate:
        mov edx, eax
        and eax, 0xffff
        or eax, KERNEL_CS << 16
        mov [edi], eax
        and edx, 0xffff0000
        or edx, 0x8e00
        mov [edi + 4], edx
        ret

        .data
flag3:  .byte 0
        .align 8
gdt:
        .long 0, 0
        .long 0x0000ffff, 0x00cf9a00
        .long 0x0000ffff, 0x00cf9200
gdtr:
        .short 23
        .long gdt
        .align 8
idt:
        .fill 256 * 8, 1, 0
idtr:
        .short 256 * 8 - 1
        .long idt
        .align 16
stack:
        .fill 4096, 1, 0
stack_top:
