# com.S — COM1: interrupt-driven receive into a ring, and transmitter-empty
# interrupts on request.
#
# com_start: IRQ 4 at IPL_HIGH (drv_com: interrupt context in every model,
#     MPSAFE unless built otherwise); console_init already enabled the
#     receive interrupt and OUT2.
# com_intr: while IIR shows an interrupt: received data -> every byte (LSR
#     DR) into com_ring, then readers sleeping on it are woken; transmitter
#     holding register empty (IIR read has acknowledged it) -> the THRE
#     interrupt is disabled again and counted (com_thre_count).  A pulse on
#     the line with nothing pending does nothing.
# com_kick: thread context, any CPU: a THRE interrupt, now, unless one is
#     already asked for — setting IER's ETBEI while the THR is empty raises
#     it at once (PC16550D §8.6; QEMU's serial.c and irqlab's uart16550
#     re-arm it on that rising edge), and nothing is transmitted: COM1's
#     line interrupting on demand, on irqlab and QEMU alike.  com_kicks
#     counts the interrupts asked for; the spin mutex com_tx (IPL_HIGH: the
#     handler takes it too) keeps the two counts exact.
# com_getc: EAX = next byte, sleeping until one arrives (thread context).
        .include "kernel.inc"

        .equ UART_RBR, 0
        .equ UART_IER, 1
        .equ UART_IIR, 2
        .equ UART_LSR, 5
        .equ LSR_DR, 0x01
        .equ IER_RDI, 0x01               # received data available
        .equ IER_THRI, 0x02              # transmitter holding register empty
        .equ IIR_NO_INT, 0x01
        .equ IIR_ID, 0x0e
        .equ IIR_THRI, 0x02

        .text
com_start:
        mov esi, drv_com
        jmp intr_establish

com_intr:
        push ebx
        push edx
1:      mov dx, COM1 + UART_IIR          # what is pending (reading acknowledges THRE)
        in al, dx
        test al, IIR_NO_INT
        jnz 9f
        and al, IIR_ID
        cmp al, IIR_THRI
        jne 2f
        mov ebx, com_tx                  # THRE: off again, counted
        call mutex_enter
        mov dx, COM1 + UART_IER
        mov al, IER_RDI
        out dx, al
        mov dword ptr [com_thre_armed], 0
        inc dword ptr [com_thre_count]
        call mutex_exit
        jmp 1b
2:      mov ebx, com_ring                # received data (or its timeout)
3:      mov dx, COM1 + UART_LSR
        in al, dx
        test al, LSR_DR
        jz 4f
        mov dx, COM1 + UART_RBR
        in al, dx
        movzx eax, al
        call ring_put
        inc dword ptr [com_rx_count]
        jmp 3b
4:      mov eax, com_ring
        call wakeup
        jmp 1b
9:      pop edx
        pop ebx
        ret

com_kick:
        push ebx
        push edx
        mov ebx, com_tx
        call mutex_enter
        cmp dword ptr [com_thre_armed], 0
        jne 1f                           # one is on its way already
        mov dword ptr [com_thre_armed], 1
        inc dword ptr [com_kicks]
        mov dx, COM1 + UART_IER
        mov al, IER_RDI | IER_THRI       # the rising edge of ETBEI: THRE now
        out dx, al
1:      call mutex_exit
        pop edx
        pop ebx
        ret

com_getc:
        push ebx
        mov ebx, com_ring
1:      SCHED_LOCK
        call ring_get
        jnc 2f
        mov eax, com_ring
        xor edx, edx
        call sleep_on
        SCHED_UNLOCK
        jmp 1b
2:      SCHED_UNLOCK
        pop ebx
        ret

        .data
        DRIVER com, COM1_IRQ, IPL_HIGH, com_intr, 0, COM_MODEL, COM_MPSAFE
        MUTEX com_tx, MUTEX_SPIN, IPL_HIGH
        .align 4
com_rx_count:   .long 0
com_thre_armed: .long 0
com_kicks:      .long 0                  # THRE interrupts asked for
com_thre_count: .long 0                  # THRE interrupts handled
        .bss
        .align 16
com_ring: .space RING_SIZE
