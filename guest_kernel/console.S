# console.S — console output on the debug port 0xE9 or COM1 (polled THR).
#
# console_init: COM1 at 115200 8N1, FIFOs on, OUT2 set (so IRQ 4 reaches
# the PIC), receive interrupts enabled; then picks the output port: the
# debug console when 0xE9 reads back 0xE9 (QEMU -debugcon, irqlab), else
# COM1.  Not both: irqlab shows both ports on one console, and a line
# must appear once.  putc: AL to that port.  puts: the
# NUL-terminated string at ESI.  putdec: EAX in decimal.  puthex: EAX as
# 8 hex digits.  All keep every register and the flags' IF; callable at
# any IPL and in interrupt context (output is polled, never blocks).
        .include "kernel.inc"

        .equ UART_THR, 0                 # transmit holding (DLAB 0)
        .equ UART_IER, 1
        .equ UART_FCR, 2
        .equ UART_LCR, 3
        .equ UART_MCR, 4
        .equ UART_LSR, 5
        .equ LSR_THRE, 0x20
        .equ LCR_DLAB, 0x80
        .equ MCR_OUT2, 0x08
        .equ IER_RDA, 0x01               # received data available

        .text
console_init:
        mov dx, COM1 + UART_IER
        xor al, al
        out dx, al                       # no interrupts while programming
        mov dx, COM1 + UART_LCR
        mov al, LCR_DLAB
        out dx, al
        mov dx, COM1 + UART_THR          # divisor latch low: 1 = 115200
        mov al, 1
        out dx, al
        mov dx, COM1 + UART_IER          # divisor latch high
        xor al, al
        out dx, al
        mov dx, COM1 + UART_LCR
        mov al, 0x03                     # 8N1, DLAB 0
        out dx, al
        mov dx, COM1 + UART_FCR
        mov al, 0x07                     # FIFOs on and cleared
        out dx, al
        mov dx, COM1 + UART_MCR
        mov al, MCR_OUT2 | 0x03          # DTR, RTS, OUT2 (IRQ enable gate)
        out dx, al
        mov dx, COM1 + UART_IER
        mov al, IER_RDA
        out dx, al
        in al, DEBUGCON                  # QEMU's and irqlab's readback value
        cmp al, DEBUGCON
        sete al
        movzx eax, al
        mov [console_debugcon], eax
        ret

putc:
        cmp dword ptr [console_debugcon], 0
        je 3f
        out DEBUGCON, al
        ret
3:      push edx
        push eax
        mov dx, COM1 + UART_LSR
1:      in al, dx                        # wait for room in the THR
        test al, LSR_THRE
        jz 1b
        pop eax
        mov dx, COM1 + UART_THR
        out dx, al
        pop edx
        ret

puts:
        push eax
        push esi
1:      mov al, [esi]
        test al, al
        jz 2f
        call putc
        inc esi
        jmp 1b
2:      pop esi
        pop eax
        ret

putdec:
        push eax
        push ecx
        push edx
        push ebx
        mov ebx, 10
        xor ecx, ecx
1:      xor edx, edx                     # push the digits, least significant first
        div ebx
        push edx
        inc ecx
        test eax, eax
        jnz 1b
2:      pop eax
        add al, '0'
        call putc
        loop 2b
        pop ebx
        pop edx
        pop ecx
        pop eax
        ret

puthex:
        push eax
        push ecx
        push edx
        mov edx, eax
        mov ecx, 8
1:      rol edx, 4
        mov al, dl
        and al, 0x0f
        add al, '0'
        cmp al, '9'
        jbe 2f
        add al, 'a' - '0' - 10
2:      call putc
        loop 1b
        pop edx
        pop ecx
        pop eax
        ret

newline:
        push eax
        mov al, 10
        call putc
        pop eax
        ret

        .data
        .align 4
console_debugcon: .long 0                # 1: write to 0xE9, 0: to COM1
