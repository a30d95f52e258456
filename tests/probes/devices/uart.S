# uart.S — probe the 16550 on COM1: divisor latch, SCR, LSR, loopback
# (data and modem lines), overrun, IIR priority order, FIFO enable bits,
# FIFO trigger level and character timeout, and IRQ4 at the PIC with OUT2.
# IF stays 0.  Loopback keeps bytes inside the chip, so nothing is printed
# on the serial console.
        .include "probe.inc"

        .equ COM1, 0x3f8
        .equ RBR, COM1
        .equ IER, COM1 + 1
        .equ IIR, COM1 + 2
        .equ FCR, COM1 + 2
        .equ LCR, COM1 + 3
        .equ MCR, COM1 + 4
        .equ LSR, COM1 + 5
        .equ MSR, COM1 + 6
        .equ SCR, COM1 + 7

.macro OUTB port, value
        mov dx, \port
        mov al, \value
        out dx, al
.endm

.macro INB port
        mov dx, \port
        in al, dx
.endm

        .text
main:
        OUTB IER, 0
        OUTB FCR, 0
        OUTB LCR, 0x80               # DLAB: ports 0 and 1 are the divisor
        OUTB COM1, 0x01              # 115200 baud
        OUTB COM1 + 1, 0x00
        INB COM1
        SHOW dll
        INB COM1 + 1
        SHOW dlm
        OUTB LCR, 0x03               # 8N1, DLAB off
        INB LCR
        SHOW lcr
        OUTB SCR, 0x5a
        INB SCR
        SHOW scr
        INB LSR
        SHOW lsr

        # loopback: what is sent comes back, modem outputs appear as inputs
        OUTB MCR, 0x10
        OUTB RBR, 0xae
        INB LSR
        SHOW lsr_loop
        INB RBR
        SHOW rbr
        INB LSR
        SHOW lsr
        OUTB MCR, 0x1f               # DTR RTS OUT1 OUT2
        INB MSR
        and al, 0xf0                 # DCD RI DSR CTS
        SHOW msr
        OUTB MCR, 0x11               # DTR only
        INB MSR
        and al, 0xf0
        SHOW msr
        # a second byte before the first is read: overrun
        OUTB MCR, 0x10
        OUTB RBR, 0x01
        OUTB RBR, 0x02
        INB LSR
        SHOW lsr_oe
        INB LSR
        SHOW lsr_read
        INB RBR
        SHOW rbr

        # IIR priority: line status > received data > THR empty
        OUTB IER, 0x07
        INB IIR
        SHOW iir_thre
        INB IIR
        SHOW iir_none
        OUTB IER, 0x00
        OUTB IER, 0x07               # THRE armed again
        OUTB RBR, 0x03
        OUTB RBR, 0x04               # overrun: line status
        INB IIR
        SHOW iir_rls
        INB LSR
        INB IIR
        SHOW iir_rda
        INB RBR
        INB IIR
        SHOW iir_thre
        INB IIR
        SHOW iir_none
        OUTB IER, 0

        # FIFOs: IIR bits 7-6, trigger level, character timeout
        OUTB FCR, 0x01
        INB IIR
        SHOW iir_fifo
        OUTB FCR, 0x47               # trigger at 4, both FIFOs cleared
        OUTB IER, 0x01
        OUTB RBR, 0x11
        OUTB RBR, 0x22
        OUTB RBR, 0x33
        INB IIR
        SHOW iir_below
        OUTB RBR, 0x44
        INB IIR
        SHOW iir_trigger
        call drain
        INB IIR
        SHOW iir_empty
        OUTB RBR, 0x55
        mov ecx, 400000              # 4 characters at 115200 8N1: 347 us
        call delay
        INB IIR
        SHOW iir_timeout
        INB RBR
        SHOW rbr
        INB IIR
        SHOW iir_empty
        OUTB IER, 0
        OUTB FCR, 0x00
        INB IIR
        SHOW iir

        # IRQ4 at the PIC: THRE interrupt with OUT2 set (outside loopback)
        OUTB MCR, 0x08
        OUTB IER, 0x02
        call pic_irr_m
        and al, 0x10
        SHOW irr4
        OUTB IER, 0
        OUTB MCR, 0
        jmp done

# drain: print every byte waiting in the receiver
drain:
        INB LSR
        test al, 1
        jz drained
        INB RBR
        SHOW rx
        jmp drain
drained:
        ret
