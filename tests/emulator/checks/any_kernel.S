# any_kernel.S — a multiboot program that is not irqlab's kernel (no obs_
# labels), for the rules that need only the machine and named stacks
# (guest_kernel/OBSERVE.md, "Any kernel").  It names one stack by a label
# pair (boot_stack / boot_stack_top), runs on it, and takes PIT ticks
# (IRQ 0, mode 2, ~1 ms) for ~5 ms with a handler that EOIs and irets.
# Built with -D names, it has one bug each:
#   BUG_IRET_IF  the tick handler irets with interrupts enabled (sti; iret)
#   BUG_STACK    after the ticks it loads ESP with an address in no stack
#   BUG_NEST     the tick handler sends its EOI, enables interrupts and
#                spins past the next tick, which enters it again
# Exits through port 0xF4 with 0 either way.
        .equ PIT_CH0, 0x40
        .equ PIT_CTRL, 0x43

        .text
_start:
        mov esp, boot_stack_top
        lgdt [gdtr]
        jmp 0x08:flat
flat:
        mov ax, 0x10
        mov ds, ax
        mov es, ax
        mov ss, ax
        # 8259As: vectors 0x20/0x28, cascade on IRQ 2, 8086 mode; only IRQ 0 open
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
        mov al, 0xff
        out 0xa1, al
        mov al, 0xfe
        out 0x21, al
        # gate 0x20 -> tick (present, DPL 0, 32-bit interrupt gate)
        mov eax, tick
        mov word ptr [idt + 0x20 * 8], ax
        mov word ptr [idt + 0x20 * 8 + 2], 0x08
        mov word ptr [idt + 0x20 * 8 + 4], 0x8e00
        shr eax, 16
        mov word ptr [idt + 0x20 * 8 + 6], ax
        lidt [idtr]
        mov al, 0x34                    # counter 0, mode 2, count 1193 (~1 ms)
        out PIT_CTRL, al
        mov al, 1193 & 0xff
        out PIT_CH0, al
        mov al, 1193 >> 8
        out PIT_CH0, al
        sti
        mov ecx, 5000000
wait:
        loop wait
        cli
.ifdef BUG_STACK
        mov esp, 0x00090000             # in no stack the image names
        push eax
.endif
        xor al, al
        out 0xf4, al
halt:
        hlt
        jmp halt

tick:
        push eax
        inc dword ptr [ticks]
        mov al, 0x20
        out 0x20, al
.ifdef BUG_NEST
        push ecx
        sti
        mov ecx, 1500000                # 1.5 ms: the next tick comes in here
spin:
        loop spin
        cli
        pop ecx
.endif
        pop eax
.ifdef BUG_IRET_IF
        sti                             # iret with IF = 1: the next tick may nest
.endif
        iret

        .data
        .align 8
gdt:    .quad 0
        .quad 0x00cf9a000000ffff        # 0x08: flat code
        .quad 0x00cf92000000ffff        # 0x10: flat data
gdt_end:
gdtr:   .short gdt_end - gdt - 1
        .long gdt
idtr:   .short 0x30 * 8 - 1
        .long idt
ticks:  .long 0

        .bss
        .align 8
idt:    .space 0x30 * 8
        .align 16
boot_stack:
        .space 4096
boot_stack_top:
