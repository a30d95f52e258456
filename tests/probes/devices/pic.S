# pic.S — probe the 8259A pair: IRR/ISR/IMR, poll, specific and rotating
# EOI, set priority, special mask mode, ELCR masks, level re-delivery, and
# the cascade.  IF stays 0: requests come from real devices (i8042 command
# 0xD2 for IRQ 1 and 0xD3 for IRQ 12, the UART's THRE interrupt with OUT2
# for IRQ 4, PIT counter 0 for IRQ 0) and are taken with the poll command.
        .include "probe.inc"
        .include "lines.inc"

        .text
main:
        call kbd_prep
        call uart_prep
        in al, PIC1_DATA
        SHOW imr1
        in al, PIC2_DATA
        SHOW imr2
        # two requests while everything is masked: IRR latches them
        call irq1_up
        call irq4_up
        call pic_irr_m
        SHOW irr
        call poll_m
        SHOW poll_masked
        # unmask 0, 1, 4: the poll takes IRQ1 (highest) and sets ISR
        mov al, 0xec
        out PIC1_DATA, al
        call poll_m
        SHOW poll
        call pic_isr_m
        SHOW isr
        call pic_irr_m
        SHOW irr
        call poll_m                  # IRQ4 is lower than IRQ1 in service
        SHOW poll_nested
        mov al, 0x61                 # specific EOI, IR1
        out PIC1_CMD, al
        call pic_isr_m
        SHOW isr_seoi
        call poll_m
        SHOW poll
        mov al, 0x20                 # non-specific EOI
        out PIC1_CMD, al
        call pic_isr_m
        SHOW isr_eoi

        # rotate on non-specific EOI: the serviced line becomes the lowest
        call irq1_down
        call irq1_up
        call irq4_down
        call irq4_up
        call irq0_pulse
        call pic_irr_m
        SHOW irr_rot
        call poll_rot                # 0 (then 1 is highest)
        call irq0_pulse
        call poll_rot                # 1 (then 2 is highest: 4 before 0)
        call poll_rot                # 4 (then 5 is highest: 0 before 1)
        call irq1_down
        call irq1_up
        call poll_rot                # 0
        mov al, 0xc7                 # set priority: IR7 lowest (the default)
        out PIC1_CMD, al
        call poll_m                  # IRQ1 left over
        SHOW poll
        mov al, 0x20
        out PIC1_CMD, al

        # set priority: IR1 lowest, so IR2..IR7 then IR0, IR1
        call irq0_pulse
        call irq1_down
        call irq1_up
        call irq4_down
        call irq4_up
        mov al, 0xc1
        out PIC1_CMD, al
        call poll_m
        SHOW poll_prio
        mov al, 0x20
        out PIC1_CMD, al
        call poll_m
        SHOW poll_prio
        mov al, 0x20
        out PIC1_CMD, al
        mov al, 0xc7
        out PIC1_CMD, al
        call poll_m
        SHOW poll_prio
        mov al, 0x20
        out PIC1_CMD, al

        # special mask mode: a masked in-service line stops blocking lower ones
        call irq1_down
        call irq1_up
        call irq4_down
        call irq4_up
        call poll_m
        SHOW poll
        mov al, 0xee                 # mask IRQ1 (in service)
        out PIC1_DATA, al
        call poll_m
        SHOW poll_fnm
        mov al, 0x68                 # OCW3: set special mask mode
        out PIC1_CMD, al
        call poll_m
        SHOW poll_smm
        call pic_isr_m
        SHOW isr_smm
        mov al, 0x48                 # OCW3: reset special mask mode
        out PIC1_CMD, al
        mov al, 0x64
        out PIC1_CMD, al
        mov al, 0x61
        out PIC1_CMD, al
        call pic_isr_m
        SHOW isr
        mov al, 0xec
        out PIC1_DATA, al

        # ELCR: the PIIX keeps IRQ 0, 1, 2, 8, 13 edge-triggered
        mov al, 0xff
        mov dx, ELCR1
        out dx, al
        mov dx, ELCR2
        out dx, al
        mov dx, ELCR1
        in al, dx
        SHOW elcr1
        mov dx, ELCR2
        in al, dx
        SHOW elcr2
        xor al, al
        out dx, al

        # level-triggered IRQ4: still requested after the poll, again after EOI
        mov al, 0x10
        mov dx, ELCR1
        out dx, al
        call irq4_down
        call irq4_up
        call poll_m
        SHOW poll_level
        call pic_irr_m
        SHOW irr_level
        mov al, 0x20
        out PIC1_CMD, al
        call poll_m
        SHOW poll_level
        mov al, 0x20
        out PIC1_CMD, al
        call irq4_down
        call pic_irr_m
        SHOW irr_level
        xor al, al
        mov dx, ELCR1
        out dx, al

        # cascade: IRQ12 reaches the master on IR2
        mov al, 0xe8                 # master: unmask 0, 1, 2, 4
        out PIC1_DATA, al
        mov al, 0xef                 # slave: unmask IR4 (IRQ12)
        out PIC2_DATA, al
        call kbd_drain
        mov al, 0xd3
        out KBD_CMD, al
        mov al, 0xa5
        out KBD_DATA, al
        call pic_irr_s
        SHOW irr2
        call pic_irr_m
        SHOW irr
        call poll_m
        SHOW poll
        call poll_s
        SHOW poll2
        call pic_isr_m
        SHOW isr
        call pic_isr_s
        SHOW isr2
        mov al, 0x20
        out PIC2_CMD, al
        out PIC1_CMD, al
        in al, KBD_DATA
        SHOW kbd
        mov al, 0xff
        out PIC1_DATA, al
        out PIC2_DATA, al
        jmp done

# poll_rot: poll, print it, then rotate on non-specific EOI (OCW2 0xA0)
poll_rot:
        call poll_m
        SHOW poll_rot
        mov al, 0xa0
        out PIC1_CMD, al
        ret
