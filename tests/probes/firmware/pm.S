# pm.S — ACPI fixed hardware: PM1 registers, the PM timer, the SCI, GPE0.
#
# ACPI 1.0b section 4.7 and QEMU 7.2's PIIX4 (hw/acpi/core.c, piix4.c).
# One CPU, both 8259s masked, the SCI through IO APIC pin 9 (level, active
# high: the MADT's override).  Expected output and why:
#   pm1 sts 0001 en 0000 cnt 0000
#     (TMR_STS reads 1 until the guest clears it: the timer's overflow mark
#     is 0 after reset; nothing enabled; SCI_EN clear: ACPI not enabled yet)
#   pm timer: 3579 or 3580 counts in 1000000 instructions
#     (3.579545 MHz of virtual time, 1 instruction = 1 ns: 3579.5 counts,
#     floor or ceiling by where the first read falls -- QEMU's virtual clock
#     did not start at 0 when the probe began, irqlab's did)
#   acpi enable: cnt 0001, sts after clearing tmr_sts 0000
#     (ACPI_ENABLE 0xF1 written to SMI_CMD 0xB2 sets SCI_EN)
#   sci: 1 interrupt, pm1 sts 0001 in the handler, 0000 after, timer bit 23 flipped
#     (TMR_EN set: when the 24-bit counter's bit 23 changes, TMR_STS sets and
#     the SCI (level) rises; the handler clears TMR_STS, the SCI falls)
#   gpe0: en ff status 00
#     (GPE0_EN reads back; no general-purpose event is pending)

        .include "lib.S"
        .include "fw.inc"
        .equ VEC, 0x59
        .equ PM1_STS, 0x600
        .equ PM1_EN, 0x602
        .equ PM1_CNT, 0x604
        .equ PM_TMR, 0x608
        .equ GPE0_STS, 0xafe0
        .equ GPE0_EN, 0xafe2
        .equ SMI_CMD, 0xb2

        .text
main:
        SET_GATE VEC, sci_handler
        PUTS msg_pm1
        mov dx, PM1_STS
        call in16
        PUTS msg_en
        mov dx, PM1_EN
        call in16
        PUTS msg_cnt
        mov dx, PM1_CNT
        call in16
        call newline

        PUTS msg_timer
        mov dx, PM_TMR
        in eax, dx
        mov ebx, eax
        mov ecx, 1000000 - 4
        call delay
        in eax, dx
        sub eax, ebx
        and eax, 0xffffff
        cmp eax, 3579
        jb 1f
        cmp eax, 3580
        ja 1f
        PUTS msg_in_range
        jmp 2f
1:      call putdec
2:      PUTS msg_counts

        mov al, 0xf1
        out SMI_CMD, al
        PUTS msg_enable
        mov dx, PM1_CNT
        call in16
        mov dx, PM1_STS
        mov ax, 1
        out dx, ax
        PUTS msg_cleared
        mov dx, PM1_STS
        call in16
        call newline

        # the SCI from the PM timer: IO APIC pin 9, level, to APIC 0
        mov dx, PM_TMR
        in eax, dx
        mov [tmr_before], eax
        mov ecx, 9
        mov eax, VEC | RTE_LEVEL
        xor edx, edx
        call route
        mov dx, PM1_EN
        mov ax, 1
        out dx, ax
        sti
1:      cmp dword ptr [sci_count], 0
        jne 2f
        hlt
        jmp 1b
2:      cli
        PUTS msg_sci
        mov eax, [sci_count]
        call putdec
        PUTS msg_in_handler
        mov eax, [sts_seen]
        call puthex4
        PUTS msg_after
        mov dx, PM1_STS
        call in16
        mov dx, PM_TMR
        in eax, dx
        xor eax, [tmr_before]
        test eax, 0x800000
        jz 3f
        PUTS msg_flipped
3:      call newline
        mov dx, PM1_EN
        xor eax, eax
        out dx, ax
        mov ecx, 9
        call mask_pin

        PUTS msg_gpe0
        mov dx, GPE0_EN
        mov al, 0xff
        out dx, al
        in al, dx
        call puthex2
        PUTS msg_status
        mov dx, GPE0_STS
        in al, dx
        call puthex2
        call newline
        mov dx, GPE0_EN
        xor al, al
        out dx, al
        ret

# in16: print the 16-bit register at DX in hex.
in16:
        push eax
        in ax, dx
        call puthex4
        pop eax
        ret

# puthex4: AX as 4 hex digits.
puthex4:
        push eax
        push eax
        mov al, ah
        call puthex2
        pop eax
        call puthex2
        pop eax
        ret

# sci_handler: note PM1_STS, clear TMR_STS (the SCI falls), EOI.
sci_handler:
        push eax
        push edx
        inc dword ptr [sci_count]
        mov dx, PM1_STS
        in ax, dx
        mov [sts_seen], eax
        mov ax, 1
        out dx, ax
        mov dword ptr [LAPIC_EOI], 0
        pop edx
        pop eax
        iret

        .data
sci_count:  .long 0
sts_seen:   .long 0
tmr_before: .long 0
msg_pm1:       .asciz "pm1 sts "
msg_en:        .asciz " en "
msg_cnt:       .asciz " cnt "
msg_timer:     .asciz "pm timer: "
msg_counts:    .asciz " counts in 1000000 instructions\n"
msg_in_range:  .asciz "3579 or 3580"
msg_enable:    .asciz "acpi enable: cnt "
msg_cleared:   .asciz ", sts after clearing tmr_sts "
msg_sci:       .asciz "sci: "
msg_in_handler: .asciz " interrupt, pm1 sts "
msg_after:     .asciz " in the handler, "
msg_flipped:   .asciz " after, timer bit 23 flipped"
msg_gpe0:      .asciz "gpe0: en "
msg_status:    .asciz " status "
