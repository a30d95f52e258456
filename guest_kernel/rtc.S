# rtc.S — the MC146818 RTC as a second clock on the slave PIC (IRQ 8).
#
# rtc_start: periodic interrupt (register A rate 6 = 1024 Hz, register B
#     PIE), IRQ 8 at IPL_SCHED (drv_rtc: interrupt context in every model,
#     MPSAFE unless built otherwise).  rtc_stop: PIE off.
# rtc_intr: reads register C (which acknowledges the chip) and counts.
# Only irqlab scenarios use it: QEMU's RTC follows the host clock.
        .include "kernel.inc"

        .equ RTC_A, 0x0a
        .equ RTC_B, 0x0b
        .equ RTC_C, 0x0c
        .equ RTC_B_PIE, 0x40
        .equ NMI_OFF, 0x80

        .text
rtc_start:
        mov esi, drv_rtc
        call intr_establish
        mov al, RTC_A | NMI_OFF
        out CMOS_ADDR, al
        mov al, 0x26                     # 32.768 kHz base, rate 6: 1024 Hz
        out CMOS_DATA, al
        mov al, RTC_B | NMI_OFF
        out CMOS_ADDR, al
        in al, CMOS_DATA
        or al, RTC_B_PIE
        mov ah, al
        mov al, RTC_B | NMI_OFF
        out CMOS_ADDR, al
        mov al, ah
        out CMOS_DATA, al
        ret

rtc_stop:
        mov al, RTC_B | NMI_OFF
        out CMOS_ADDR, al
        in al, CMOS_DATA
        and al, ~RTC_B_PIE
        mov ah, al
        mov al, RTC_B | NMI_OFF
        out CMOS_ADDR, al
        mov al, ah
        out CMOS_DATA, al
        ret

rtc_intr:
        mov al, RTC_C | NMI_OFF
        out CMOS_ADDR, al
        in al, CMOS_DATA                 # acknowledges the interrupt
        inc dword ptr [rtc_ticks]
        ret

        .data
        DRIVER rtc, RTC_IRQ, IPL_SCHED, rtc_intr, 0, RTC_MODEL, RTC_MPSAFE
        .align 4
rtc_ticks: .long 0
