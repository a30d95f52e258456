# rtc.S — probe the MC146818 RTC: registers A, B, D, register C cleared on
# read, the periodic flag and IRQ 8 at the slave PIC, the time bytes in BCD.
# IF stays 0.  The date itself is rtc_date.S's (tests/qemu.py starts QEMU's
# RTC at irqlab's epoch on the virtual clock).
        .include "probe.inc"

        .equ RTC_INDEX, 0x70
        .equ RTC_DATA, 0x71

.macro RTC_READ index
        mov al, \index
        out RTC_INDEX, al
        in al, RTC_DATA
.endm

.macro RTC_WRITE index, value
        mov al, \index
        out RTC_INDEX, al
        mov al, \value
        out RTC_DATA, al
.endm

        .text
main:
        RTC_WRITE 0x0b, 0x02         # 24 hour, BCD, no interrupts
        RTC_READ 0x0b
        SHOW b
        RTC_WRITE 0x0a, 0x26         # 32.768 kHz time base, 1024 Hz rate
        RTC_READ 0x0a
        and al, 0x7f                 # UIP depends on the moment
        SHOW a
        RTC_READ 0x0d
        SHOW d
        RTC_WRITE 0x0a, 0x20         # no periodic rate
        RTC_READ 0x0c                # clear whatever is pending
        RTC_READ 0x0c
        SHOW c_clear

        # periodic interrupt at 8192 Hz (122 us): poll C until PF shows.
        # QEMU's RTC runs on the host clock, so the wait is bounded by a
        # count, not assumed; irqlab's first period ends 122 us in.
        RTC_WRITE 0x0a, 0x23
        RTC_WRITE 0x0b, 0x42         # PIE
        mov ecx, 20000000
wait_pf:
        RTC_READ 0x0c
        test al, 0x40
        jnz got_pf
        dec ecx
        jnz wait_pf
got_pf:
        and al, 0xc0                 # IRQF and PF
        SHOW c_pf
        call pic_irr_s
        and al, 0x01                 # IRQ 8 was latched (masked) at the slave
        SHOW irr8
        RTC_WRITE 0x0b, 0x02
        RTC_WRITE 0x0a, 0x26

        # the seconds byte is BCD below 0x60
        RTC_READ 0x00
        mov bl, al
        and bl, 0x0f
        cmp bl, 9
        ja not_bcd
        cmp al, 0x60
        jae not_bcd
        SAY sec_bcd_ok
        call newline
        jmp done
not_bcd:
        SHOW sec_not_bcd
        jmp done
