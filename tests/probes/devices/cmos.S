# cmos.S — the CMOS memory-size bytes a PC BIOS leaves for the OS (run with
# 32 MiB of RAM): 0x15/0x16 base memory in KiB, 0x17/0x18 and 0x30/0x31
# memory above 1 MiB in KiB, 0x34/0x35 memory above 16 MiB in 64 KiB blocks.
        .include "probe.inc"

.macro CMOS index
        mov al, \index
        out 0x70, al
        in al, 0x71
        call hex8
.endm

        .text
main:
        SAY base
        CMOS 0x15
        CMOS 0x16
        call newline
        SAY ext
        CMOS 0x17
        CMOS 0x18
        CMOS 0x30
        CMOS 0x31
        call newline
        SAY high
        CMOS 0x34
        CMOS 0x35
        call newline
        jmp done
