# nested.S — a guest for the debugger's backtrace tests: main calls work,
# which takes `int 0x25`; that handler calls helper, which takes `int 0x26`;
# the 0x26 handler calls deep.  A breakpoint at deep sees both interrupt
# frames on one stack.  Flat GDT, IDT with interrupt gates for 0x25/0x26.
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
        mov eax, handler25
        mov edi, idt + 8 * 0x25
        call set_gate
        mov eax, handler26
        mov edi, idt + 8 * 0x26
        call set_gate
        lidt [idtr]
        call work
        mov al, 0
        out EXIT_PORT, al
halt:
        hlt
        jmp halt

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

work:
        int 0x25
        ret

handler25:
        call helper
        iret

helper:
        int 0x26
        ret

handler26:
        call deep
        iret

deep:
        nop
        ret

        .data
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
