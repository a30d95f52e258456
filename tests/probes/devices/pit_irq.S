# pit_irq.S — the PIT interrupting through the master 8259A: counter 0 in
# mode 2 with count 1193 (999.85 us), IRQ 0 unmasked, interrupts enabled
# for 10.5 ms of `loop`s.  The handler counts ticks, reads counter 0 on the
# first tick (latched) and sends a non-specific EOI.  Needs interrupt
# delivery, so it runs on QEMU and on irqlab (not on the device bench).
        .include "probe.inc"

        .equ IDT_ENTRIES, 0x30

        .text
main:
        # IDT: vectors 0x20-0x2f are interrupt gates to irq_stub (IRQ 0 to
        # tick), everything else not present
        mov edi, idt
        xor ecx, ecx
fill_idt:
        mov eax, irq_stub
        cmp ecx, 0x20
        jne not_tick
        mov eax, tick
not_tick:
        cmp ecx, 0x20
        jb gate_absent
        mov word ptr [edi], ax           # offset 15..0
        mov word ptr [edi + 2], 0x08     # selector
        mov word ptr [edi + 4], 0x8e00   # present, DPL 0, 32-bit interrupt gate
        shr eax, 16
        mov word ptr [edi + 6], ax       # offset 31..16
gate_absent:
        add edi, 8
        inc ecx
        cmp ecx, IDT_ENTRIES
        jb fill_idt
        lidt [idtr]

        mov al, 0x34                     # counter 0, LSB then MSB, mode 2
        out PIT_CTRL, al
        mov al, 1193 & 0xff
        out PIT_CH0, al
        mov al, 1193 >> 8
        out PIT_CH0, al
        mov al, 0xfe                     # unmask IRQ 0 only
        out PIC1_DATA, al
        sti
        mov ecx, 10500000
        call delay
        cli
        mov al, 0xff
        out PIC1_DATA, al
        mov eax, [ticks]
        SHOW ticks
        mov ax, [first_count]
        push eax
        mov al, ah
        SAY first_count
        call hex8
        pop eax
        call hex_digit_pair
        call newline
        # leave counter 0 quiet (mode 0, count 1)
        mov al, 0x30
        out PIT_CTRL, al
        mov al, 1
        out PIT_CH0, al
        xor al, al
        out PIT_CH0, al
        jmp done

# tick: IRQ 0.  Counts, latches counter 0 the first time, EOI.
tick:
        push eax
        inc dword ptr [ticks]
        cmp dword ptr [ticks], 1
        jne tick_eoi
        xor al, al                       # counter latch, counter 0
        out PIT_CTRL, al
        in al, PIT_CH0
        mov [first_count], al
        in al, PIT_CH0
        mov [first_count + 1], al
tick_eoi:
        mov al, 0x20
        out PIC1_CMD, al
        pop eax
        iret

# irq_stub: any other IRQ (none is unmasked): EOI both chips
irq_stub:
        push eax
        mov al, 0x20
        out PIC2_CMD, al
        out PIC1_CMD, al
        pop eax
        iret

# hex_digit_pair: AL as two hex digits
hex_digit_pair:
        push eax
        push ebx
        mov bl, al
        shr al, 4
        call hex_digit
        mov al, bl
        and al, 0x0f
        call hex_digit
        pop ebx
        pop eax
        ret

        .data
        .align 8
idtr:   .short IDT_ENTRIES * 8 - 1
        .long idt
ticks:  .long 0
first_count:
        .short 0

        .bss
        .align 8
idt:    .space IDT_ENTRIES * 8
