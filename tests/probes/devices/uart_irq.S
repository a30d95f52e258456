# uart_irq.S — the UART's THRE interrupt through the master 8259A into an
# IDT handler.  With OUT2 set (the PC's IRQ 4 enable) and outside loopback,
# enabling ETBEI while THR is empty raises IRQ 4; the handler reads IIR
# (0x02, which clears the THRE interrupt), counts, and sends EOI.  The probe
# re-arms it by clearing and setting IER eight times — nothing is
# transmitted, so nothing appears on COM1.
        .include "probe.inc"
        .include "idt.inc"

        .equ COM1, 0x3f8

        .text
main:
        call setup_idt
        mov dx, COM1 + 3
        mov al, 0x03                     # 8N1
        out dx, al
        mov dx, COM1 + 2
        xor al, al                       # no FIFO
        out dx, al
        mov dx, COM1 + 4
        mov al, 0x08                     # OUT2
        out dx, al
        mov al, 0xef                     # unmask IRQ 4
        out PIC1_DATA, al
        sti
        mov ebx, 8
rearm:
        mov dx, COM1 + 1
        xor al, al
        out dx, al
        mov al, 0x02                     # ETBEI: THR is empty, IRQ 4 rises
        out dx, al
        nop                              # taken here at the latest
        dec ebx
        jnz rearm
        cli
        mov al, 0xff
        out PIC1_DATA, al
        mov dx, COM1 + 1
        xor al, al
        out dx, al
        mov eax, [count]
        SHOW count
        mov al, [last_iir]
        SHOW iir
        mov dx, COM1 + 2
        in al, dx
        SHOW iir_after
        mov dx, COM1 + 4
        xor al, al
        out dx, al
        jmp done

# com1: IRQ 4.  Reads IIR (clearing THRE), counts, EOI.
com1:
        push eax
        push edx
        mov dx, COM1 + 2
        in al, dx
        mov [last_iir], al
        inc dword ptr [count]
        mov al, 0x20
        out PIC1_CMD, al
        pop edx
        pop eax
        iret

        .data
        .align 4
irq_handlers:
        .long 0, 0, 0, 0, com1, 0, 0, 0
        .long 0, 0, 0, 0, 0, 0, 0, 0
count:  .long 0
last_iir:
        .byte 0
