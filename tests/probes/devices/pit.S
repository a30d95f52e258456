# pit.S — probe the 8254: mode 0 counting, counter latch, read-back
# (status and count), LSB-only and MSB-only access, mode 2 reload, and
# counter 2's GATE and OUT through port 0x61.  IF stays 0; time is measured
# in `loop` iterations (one instruction, one virtual nanosecond each), and
# one PIT clock is 838 ns, so a count read right after a load is the load.
        .include "probe.inc"

        .text
main:
        # mode 0, LSB then MSB, count 0x1000: latched at once it reads 0x1000
        mov al, 0x30
        out PIT_CTRL, al
        mov al, 0x00
        out PIT_CH0, al
        mov al, 0x10
        out PIT_CH0, al
        mov al, 0x00                 # counter latch command, counter 0
        out PIT_CTRL, al
        call read_word0
        SAY m0_load
        call hex16
        # 20000 ns later: 23 or 24 clocks have gone by
        mov ecx, 20000
        call delay
        mov al, 0x00
        out PIT_CTRL, al
        mov ecx, 20000               # the latch holds while time passes
        call delay
        call read_word0
        SAY m0_latched
        call hex16
        call read_word0              # no latch now: the live count, lower
        SAY m0_live
        call hex16

        # read-back: status of counter 0 in mode 0, before and after the count
        mov al, 0x30
        out PIT_CTRL, al
        mov al, 0x10
        out PIT_CH0, al
        xor al, al
        out PIT_CH0, al
        mov al, 0xe2                 # read-back, status only, counter 0
        out PIT_CTRL, al
        in al, PIT_CH0
        SHOW rb_status
        mov ecx, 20000               # 16 clocks = 13.4 us: OUT is high now
        call delay
        mov al, 0xe2
        out PIT_CTRL, al
        in al, PIT_CH0
        SHOW rb_status
        # read-back of status and count together: status comes first
        mov al, 0x34                 # counter 0, mode 2, count 0x0100
        out PIT_CTRL, al
        xor al, al
        out PIT_CH0, al
        mov al, 0x01
        out PIT_CH0, al
        mov al, 0xc2                 # read-back, count and status, counter 0
        out PIT_CTRL, al
        in al, PIT_CH0
        and al, 0x7f                 # (OUT in mode 2 is left out: QEMU pulses it)
        SHOW rb_both
        call read_word0
        SAY rb_count
        call hex16

        # mode 2 reloads: after 300 clocks of a 256 count, 212 or so remain
        mov ecx, 251000              # 300 clocks of 838.1 ns
        call delay
        mov al, 0x00
        out PIT_CTRL, al
        call read_word0
        SAY m2_count
        call hex16

        # LSB only and MSB only
        mov al, 0x10                 # counter 0, LSB only, mode 0
        out PIT_CTRL, al
        mov al, 0x80
        out PIT_CH0, al
        in al, PIT_CH0
        SHOW lsb
        in al, PIT_CH0
        SHOW lsb
        mov al, 0x20                 # counter 0, MSB only, mode 0
        out PIT_CTRL, al
        mov al, 0x12
        out PIT_CH0, al
        in al, PIT_CH0
        SHOW msb

        # counter 2 behind port 0x61: GATE in bit 0, OUT in bit 5
        mov al, 0x01                 # gate on, speaker off
        out PORT61, al
        mov al, 0xb0                 # counter 2, LSB then MSB, mode 0
        out PIT_CTRL, al
        mov al, 0x10
        out PIT_CH2, al
        xor al, al
        out PIT_CH2, al
        in al, PORT61
        and al, 0x23
        SHOW p61
        mov ecx, 20000
        call delay
        in al, PORT61
        and al, 0x23
        SHOW p61
        xor al, al
        out PORT61, al
        in al, PORT61
        and al, 0x23
        SHOW p61

        # leave counter 0 quiet again (mode 0, count 1)
        mov al, 0x30
        out PIT_CTRL, al
        mov al, 1
        out PIT_CH0, al
        xor al, al
        out PIT_CH0, al
        jmp done

# read_word0: AX = counter 0 read as LSB then MSB
read_word0:
        in al, PIT_CH0
        mov ah, al
        in al, PIT_CH0
        xchg al, ah
        ret

# hex16: print AX as " hhhh" and a newline
hex16:
        push eax
        push eax
        mov al, ah
        call hex8
        pop eax
        call hex_digits_only
        call newline
        pop eax
        ret

# hex_digits_only: AL as two hex digits, no leading space
hex_digits_only:
        push eax
        push ebx
        mov bl, al
        shr al, 4
        call hex_digit
        mov al, bl
        and al, 0x0f
        call hex_digit
        pop ebx
        pop eax
        ret
