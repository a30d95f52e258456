# scen_nested.S — PIT (IPL_SCHED), RTC (IPL_SCHED, slave PIC), COM1
# (IPL_HIGH), keyboard controller and test device (IPL_VM) interrupts nest
# and unwind.
#
# The RTC runs at 1024 Hz; main makes the keyboard controller raise IRQ 1
# (kbd_raise) whose handler is made long (kbd_busy), so clock and RTC
# interrupts arrive inside it (nesting in interrupt context in the classic
# model, on top of the interrupt LWP or handler thread in the others).  On
# irqlab COM1 edges are injected (they nest above the others) and
# test-device packets, whose IRQ 5 handler is made long too (td_busy), so
# that a packet arrives while IRQ 5's own handler runs (the line must stay
# out until it finishes: the eoi_unmasked bug lets it in).  Afterwards the
# state must be back where it started: no interrupt frame open, IPL_NONE,
# no line held, the PICs' IMRs equal to what the kernel last wrote.  (QEMU's
# RTC follows the host clock, so nothing printed depends on how many RTC
# interrupts came.)
#
# The one software `int` of a device vector left in the kernel is here: a
# spurious IRQ 7 (vector 0x27 with the in-service bit clear) is what the
# 8259 answers when a request vanishes before the acknowledge, and neither
# QEMU's nor irqlab's 8259 ever does that (both withdraw INT with the
# request), so the stray path's spurious case is taken by `int`.
        .include "kernel.inc"

        .equ NESTED_BUSY, 1500000        # kbd handler loop iterations (3 M instructions)
        .equ NESTED_TD_BUSY, 400000      # testdev's (0.8 M: longer than the packets' gap)
        .equ NESTED_TICKS, 20            # after IRQ 1: the packets' handlers finish
        .equ SPURIOUS_IRQ7, IRQ_BASE + 7 # the master 8259's answer to a vanished request

        .text
scen_nested:
        push ebx
        call rtc_start
        mov dword ptr [kbd_busy], NESTED_BUSY
        mov dword ptr [td_busy], NESTED_TD_BUSY
        PRINT msg_nest_go
        call kbd_raise
        mov eax, 1
        call wait_bottom_count
        mov dword ptr [kbd_busy], 0
        mov edx, NESTED_TICKS
        call tsleep                      # (irqlab: the packets' long handlers)
        mov dword ptr [td_busy], 0
        call rtc_stop
        int SPURIOUS_IRQ7                # as a spurious IRQ 7: ISR clear, no EOI
        cmp dword ptr [stray_count], 1
        jne 4f
        cli
        cmp dword ptr [cpu0 + C_IDEPTH], 0
        jne 8f
        cmp dword ptr [cpu0 + C_IPL], IPL_NONE
        jne 8f
        cmp dword ptr [cpu0 + C_HELDMASK], 0
        jne 8f
        in al, PIC2_DATA                 # the IMRs are what we last wrote
        mov ah, al
        in al, PIC1_DATA
        movzx eax, ax
        cmp eax, [cpu0 + C_PICMASK]
        jne 9f
        sti
        cmp dword ptr [td_present], 0    # on irqlab the RTC must have ticked
        je 1f
        cmp dword ptr [rtc_ticks], 0
        je 7f
        cmp dword ptr [ih_table + COM1_IRQ * IH_SIZE + IH_COUNT], 0
        je 6f                            # the injected COM1 edges were handled
.if KBD_MODEL == MODEL_CLASSIC
        cmp dword ptr [cpu0 + C_MAXDEPTH], 2
        jb 5f                            # the clock nested in the kbd handler
.endif
1:      PRINT msg_nest_done
        xor eax, eax
        pop ebx
        ret
4:      mov eax, msg_nest_stray
        pop ebx
        ret
5:      mov eax, msg_nest_depth
        pop ebx
        ret
6:      mov eax, msg_nest_com
        pop ebx
        ret
7:      sti
        mov eax, msg_nest_rtc
        pop ebx
        ret
8:      sti
        mov eax, msg_nest_state
        pop ebx
        ret
9:      sti
        mov eax, msg_nest_imr
        pop ebx
        ret

        .data
msg_nest_go:    .asciz "nested: RTC on, raising a long IRQ 1\n"
msg_nest_done:  .asciz "nested: unwound to IPL_NONE, no frame open, no line held\n"
msg_nest_stray: .asciz "a spurious IRQ 7 was not ignored"
msg_nest_depth: .asciz "no interrupt nested in another"
msg_nest_com:   .asciz "no COM1 interrupt arrived"
msg_nest_rtc:   .asciz "no RTC interrupt arrived"
msg_nest_state: .asciz "interrupt state not unwound"
msg_nest_imr:   .asciz "PIC masks differ from the kernel's"
