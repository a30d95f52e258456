# ioapic.S — IO APIC routing on 2 CPUs: the PIT through pin 2, the RTC level.
#
# 82093AA datasheet and the PC's wiring: ISA IRQ0 (the PIT) reaches IO APIC
# input 2, other ISA IRQs input n.  Both 8259s stay masked, so whatever
# arrives came through the IO APIC.  Steps and expected output:
#   ioapic version 00170020 entries 24, pin 2 at start 00010000
#   pit irq0 -> pin 2 -> cpu0: 3 interrupts
#   pit irq0 -> pin 2 -> cpu1: 3 interrupts, cpu0 3
#   rtc: remote irr 1 in handler, 2 deliveries, remote irr 0
#   rtc edge, register c unread: 3 interrupts
# (version 0x20 and 24 entries as QEMU's IO APIC; every entry starts masked;
# the PIT goes edge to physical APIC 0, then the same pin re-routed to APIC 1;
# the RTC goes level to APIC 0.)
# The RTC entry is level-triggered: the first handler EOIs without reading
# register C, so IRQ8 is still asserted and the EOI broadcast (SDM 10.8.5)
# clears Remote IRR and re-delivers at once; the second reads C (deasserts)
# and the interrupt stops.  Last, the RTC on an edge entry with register C
# never read: IRQ8 stays high, yet the RTC re-asserts it every period and
# QEMU's IO APIC, which has no edge detector, delivers each time (a real
# 82093AA would see one edge); irqlab's devices re-drive their lines where
# QEMU's do, and its IO APIC follows QEMU.

        .include "lib.S"
        .equ PIT_VECTOR, 0x30
        .equ RTC_VECTOR, 0x38
        .equ PIT_CMD, 0x43
        .equ PIT_CH0, 0x40
        .equ PIT_1KHZ, 1193
        .equ CMOS_INDEX, 0x70
        .equ CMOS_DATA, 0x71
        .equ RTC_REG_A, 0x0a
        .equ RTC_REG_B, 0x0b
        .equ RTC_REG_C, 0x0c
        .equ RTC_PIE, 0x40
        .equ RTC_1024HZ, 0x26        # divider 32.768 kHz, rate 6
        .equ RTE_LEVEL, 0x8000
        .equ RTE_REMOTE_IRR, 0x4000
        .equ RTE_MASKED, 0x10000

        .text
main:
        SET_GATE PIT_VECTOR, pit_handler
        SET_GATE RTC_VECTOR, rtc_handler
        mov dword ptr [ap_main], ap_serve
        mov eax, 1
        call start_ap

        PUTS msg_version
        mov eax, 1
        call ioapic_read
        call puthex
        PUTS msg_entries
        shr eax, 16
        movzx eax, al
        inc eax
        call putdec
        PUTS msg_pin2
        mov eax, IOAPIC_REDTBL + 4
        call ioapic_read
        call puthex
        call newline

        # the PIT at 1 kHz, pin 2 edge to APIC 0
        mov al, 0x34                 # channel 0, lo/hi byte, mode 2
        out PIT_CMD, al
        mov al, PIT_1KHZ & 0xff
        out PIT_CH0, al
        mov al, PIT_1KHZ >> 8
        out PIT_CH0, al
        mov ecx, 2
        mov eax, PIT_VECTOR
        xor edx, edx
        call route
        mov esi, cpu_done
        call wait_flag
        PUTS msg_pit0
        mov eax, [ticks]
        call putdec
        PUTS msg_interrupts

        # the same pin re-routed to APIC 1
        mov byte ptr [cpu_done], 0
        mov ecx, 2
        mov eax, PIT_VECTOR
        mov edx, 1
        call route
        mov esi, cpu_done
        call wait_flag
        PUTS msg_pit1
        mov eax, [ticks + 4]
        call putdec
        PUTS msg_cpu0
        mov eax, [ticks]
        call putdec
        call newline

        # the RTC's periodic interrupt, pin 8 level to APIC 0
        mov byte ptr [cpu_done], 0
        mov al, RTC_REG_C
        out CMOS_INDEX, al
        in al, CMOS_DATA             # clear any old flags (deasserts IRQ8)
        mov ecx, 8
        mov eax, RTE_LEVEL | RTC_VECTOR
        xor edx, edx
        call route
        mov al, RTC_REG_A
        out CMOS_INDEX, al
        mov al, RTC_1024HZ
        out CMOS_DATA, al
        mov al, RTC_REG_B
        out CMOS_INDEX, al
        in al, CMOS_DATA
        or al, RTC_PIE
        mov ah, al
        mov al, RTC_REG_B
        out CMOS_INDEX, al
        mov al, ah
        out CMOS_DATA, al
        mov esi, cpu_done
        call wait_flag
        PUTS msg_rtc
        mov eax, [remote_irr_seen]
        call putdec
        PUTS msg_rtc2
        mov eax, [rtc_count]
        call putdec
        PUTS msg_rtc3
        mov eax, IOAPIC_REDTBL + 16
        call ioapic_read
        shr eax, 14
        and eax, 1
        call putdec
        call newline

        # the RTC again, pin 8 edge, register C never read by the handler
        mov byte ptr [cpu_done], 0
        SET_GATE RTC_VECTOR, rtc_edge_handler
        mov ecx, 8
        mov eax, RTC_VECTOR
        xor edx, edx
        call route
        mov al, RTC_PIE
        call rtc_set_b
        mov esi, cpu_done
        call wait_flag
        PUTS msg_rtc_edge
        mov eax, [rtc_edges]
        call putdec
        PUTS msg_interrupts
        ret

# rtc_set_b: register B := (B & ~RTC_PIE) | AL.
rtc_set_b:
        push eax
        mov ah, al
        mov al, RTC_REG_B
        out CMOS_INDEX, al
        in al, CMOS_DATA
        and al, ~RTC_PIE & 0xff
        or ah, al
        mov al, RTC_REG_B
        out CMOS_INDEX, al
        mov al, ah
        out CMOS_DATA, al
        pop eax
        ret

# rtc_edge_handler: count; the third stops the RTC, masks pin 8, wakes main.
rtc_edge_handler:
        pushad
        inc dword ptr [rtc_edges]
        cmp dword ptr [rtc_edges], 3
        jne 1f
        xor al, al
        call rtc_set_b
        mov al, RTC_REG_C
        out CMOS_INDEX, al
        in al, CMOS_DATA
        mov ecx, 8
        call mask_pin
        mov byte ptr [cpu_done], 1
1:      mov dword ptr [LAPIC_EOI], 0
        popad
        iret

# ioapic_read: EAX = IO APIC register EAX.
ioapic_read:
        mov [IOAPIC_SEL], eax
        mov eax, [IOAPIC_WIN]
        ret

# route: redirection entry ECX := low EAX, destination APIC EDX (physical).
route:
        push eax
        push edx
        lea eax, [IOAPIC_REDTBL + ecx * 2 + 1]
        mov [IOAPIC_SEL], eax
        shl edx, 24
        mov [IOAPIC_WIN], edx
        dec eax
        mov [IOAPIC_SEL], eax
        pop edx
        pop eax
        mov [IOAPIC_WIN], eax
        ret

# mask_pin: set the mask bit of redirection entry ECX.
mask_pin:
        push eax
        lea eax, [IOAPIC_REDTBL + ecx * 2]
        mov [IOAPIC_SEL], eax
        or dword ptr [IOAPIC_WIN], RTE_MASKED
        pop eax
        ret

# ap_serve (AP): enable the LAPIC, report, take interrupts forever.
ap_serve:
        call lapic_enable
        call ap_signal_done
        sti
1:      hlt
        jmp 1b

# pit_handler: count per CPU; the third tick masks pin 2 and wakes the BSP.
pit_handler:
        pushad
        mov ebx, [LAPIC_ID]
        shr ebx, 24
        inc dword ptr [ticks + ebx * 4]
        cmp dword ptr [ticks + ebx * 4], 3
        jne 1f
        mov ecx, 2
        call mask_pin
        mov byte ptr [cpu_done], 1
        xor eax, eax
        call wake
1:      mov dword ptr [LAPIC_EOI], 0
        popad
        iret

# rtc_handler: first time EOI with IRQ8 still high; second time quiet the RTC.
rtc_handler:
        pushad
        inc dword ptr [rtc_count]
        cmp dword ptr [rtc_count], 1
        jne 1f
        mov eax, IOAPIC_REDTBL + 16
        call ioapic_read
        shr eax, 14
        and eax, 1
        mov [remote_irr_seen], eax
        jmp 2f
1:      mov al, RTC_REG_B
        out CMOS_INDEX, al
        in al, CMOS_DATA
        and al, ~RTC_PIE & 0xff
        mov ah, al
        mov al, RTC_REG_B
        out CMOS_INDEX, al
        mov al, ah
        out CMOS_DATA, al
        mov al, RTC_REG_C
        out CMOS_INDEX, al
        in al, CMOS_DATA             # deasserts IRQ8
        mov byte ptr [cpu_done], 1
2:      mov dword ptr [LAPIC_EOI], 0
        popad
        iret

        .data
        .align 4
ticks:           .long 0, 0
rtc_count:       .long 0
remote_irr_seen: .long 0
rtc_edges:       .long 0
cpu_done:        .byte 0
msg_version:     .asciz "ioapic version "
msg_entries:     .asciz " entries "
msg_pin2:        .asciz ", pin 2 at start "
msg_pit0:        .asciz "pit irq0 -> pin 2 -> cpu0: "
msg_interrupts:  .asciz " interrupts\n"
msg_pit1:        .asciz "pit irq0 -> pin 2 -> cpu1: "
msg_cpu0:        .asciz " interrupts, cpu0 "
msg_rtc:         .asciz "rtc: remote irr "
msg_rtc2:        .asciz " in handler, "
msg_rtc3:        .asciz " deliveries, remote irr "
msg_rtc_edge:    .asciz "rtc edge, register c unread: "
