# kbc.S — probe the i8042: command byte, 0xD2 raising IRQ 1 and 0xD3
# raising IRQ 12 (seen in the PICs' IRR with every line masked), status
# bits OBF and MOBF, and the lines falling when port 0x60 is read.
        .include "probe.inc"

        .equ KBD_DATA, 0x60
        .equ KBD_CMD, 0x64

        .text
main:
        call drain
        mov al, 0x60                 # write command byte: INT and INT2
        out KBD_CMD, al
        mov al, 0x03
        out KBD_DATA, al
        mov al, 0x20                 # read it back
        out KBD_CMD, al
        in al, KBD_CMD
        and al, 0x21
        SHOW status
        in al, KBD_DATA
        SHOW cmd_byte
        call init_pics               # forget the edge the read-back made

        mov al, 0xd2                 # keyboard output buffer: IRQ 1
        out KBD_CMD, al
        mov al, 0x5a
        out KBD_DATA, al
        in al, KBD_CMD
        and al, 0x21
        SHOW status
        call pic_irr_m
        SHOW irr
        in al, KBD_DATA
        SHOW data
        in al, KBD_CMD
        and al, 0x21
        SHOW status

        mov al, 0xd3                 # mouse output buffer: IRQ 12
        out KBD_CMD, al
        mov al, 0xa5
        out KBD_DATA, al
        in al, KBD_CMD
        and al, 0x21
        SHOW status
        call pic_irr_s
        SHOW irr2
        call pic_irr_m
        SHOW irr
        in al, KBD_DATA
        SHOW data
        jmp done

drain:
        in al, KBD_CMD
        test al, 1
        jz drained
        in al, KBD_DATA
        jmp drain
drained:
        ret
