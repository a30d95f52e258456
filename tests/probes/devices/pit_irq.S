# pit_irq.S — the PIT interrupting through the master 8259A: counter 0 in
# mode 2 with count 1193 (999.85 us), IRQ 0 unmasked, interrupts enabled
# for 10.5 ms of `loop`s.  The handler counts ticks, reads counter 0 on the
# first tick (latched) and sends a non-specific EOI.  Needs interrupt
# delivery, so it runs on QEMU and on irqlab (not on the device bench).
        .include "probe.inc"
        .include "idt.inc"

        .text
main:
        call setup_idt
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
        .align 4
irq_handlers:
        .long tick, 0, 0, 0, 0, 0, 0, 0
        .long 0, 0, 0, 0, 0, 0, 0, 0
ticks:  .long 0
first_count:
        .short 0
