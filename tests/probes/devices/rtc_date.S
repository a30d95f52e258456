# rtc_date.S — the MC146818's time-of-day registers right after power-on
# (seconds 0x00, minutes 0x02, hours 0x04, day of week 0x06, day 0x07,
# month 0x08, year 0x09, century 0x32), in BCD and in binary (register B's
# DM bit) and in 12-hour mode (register B's 24/12 bit; midnight reads 12,
# PM flag clear).  Comparable with QEMU because tests/qemu.py starts QEMU's
# RTC at irqlab's epoch, 2000-01-01 00:00:00 (a Saturday: day of week 7,
# Sunday being 1), on the virtual clock.  IF stays 0.
        .include "probe.inc"

.macro RTC_WRITE index, value
        mov al, \index
        out 0x70, al
        mov al, \value
        out 0x71, al
.endm

.macro TIME
        mov al, 0x00
        call rtc_byte
        mov al, 0x02
        call rtc_byte
        mov al, 0x04
        call rtc_byte
        mov al, 0x06
        call rtc_byte
        mov al, 0x07
        call rtc_byte
        mov al, 0x08
        call rtc_byte
        mov al, 0x09
        call rtc_byte
        mov al, 0x32
        call rtc_byte
        call newline
.endm

        .text
main:
        RTC_WRITE 0x0b, 0x02         # BCD, 24-hour
        SAY bcd24
        TIME
        RTC_WRITE 0x0b, 0x06         # binary, 24-hour
        SAY bin24
        TIME
        RTC_WRITE 0x0b, 0x00         # BCD, 12-hour: midnight is 12 AM
        SAY bcd12
        TIME
        RTC_WRITE 0x0b, 0x02
        jmp done

# rtc_byte: print CMOS register AL in hex
rtc_byte:
        out 0x70, al
        in al, 0x71
        call hex8
        ret
