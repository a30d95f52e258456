# com.S — COM1 input: interrupt-driven receive into a ring.
#
# com_start: IRQ 4 at IPL_HIGH (drv_com: interrupt context in every model,
#     MPSAFE unless built otherwise); console_init already enabled the
#     receive interrupt and OUT2.
# com_intr: moves every received byte (LSR DR) into com_ring and wakes
#     readers sleeping on it.  com_getc: EAX = next byte, sleeping until
#     one arrives (thread context).
        .include "kernel.inc"

        .equ UART_RBR, 0
        .equ UART_LSR, 5
        .equ LSR_DR, 0x01

        .text
com_start:
        mov esi, drv_com
        jmp intr_establish

com_intr:
        push ebx
        push edx
        mov ebx, com_ring
1:      mov dx, COM1 + UART_LSR
        in al, dx
        test al, LSR_DR
        jz 2f
        mov dx, COM1 + UART_RBR
        in al, dx
        movzx eax, al
        call ring_put
        inc dword ptr [com_rx_count]
        jmp 1b
2:      mov eax, com_ring
        call wakeup
        pop edx
        pop ebx
        ret

com_getc:
        push ebx
        mov ebx, com_ring
1:      pushf
        cli
        call ring_get
        jnc 2f
        mov eax, com_ring
        xor edx, edx
        call sleep_on
        popf
        jmp 1b
2:      popf
        pop ebx
        ret

        .data
        DRIVER com, COM1_IRQ, IPL_HIGH, com_intr, 0, COM_MODEL, COM_MPSAFE
        .align 4
com_rx_count: .long 0
        .bss
        .align 16
com_ring: .space RING_SIZE
