# pic.S — the interrupt controller: one table of operations, and the 8259s.
#
# The kernel reaches its interrupt controller only through intr_ops (OPS_*,
# layout.py), chosen once at boot: i8259_ops here on one CPU, apic_ops
# (apic.S) once smp_start has switched to the LAPICs and the IO APIC.  The
# entry points every other file calls, IF=0, keeping every register but
# EAX:
#   pic_apply: this CPU's IPL (and, on the 8259s, the held lines) to the
#       hardware — the 8259 IMRs, or this CPU's LAPIC TPR.
#   pic_eoi(EBX = line): end of interrupt, for the paths that hold the line
#       masked first (ithread, threaded).
#   pic_hold(EBX = line): the line stays masked until pic_release (its
#       handler thread runs); held lines are one word for all CPUs,
#       intr_held (a converted interrupt thread may finish elsewhere).
#   pic_release(EBX = line): its handler finished; unmask it (if the IPL
#       allows, on the 8259s).
# intr_hard (intr.S) uses OPS_EOI_EARLY before its handler and OPS_EOI_LATE
# after it (the 8259s: early, so higher lines nest; the LAPIC: late, as
# Linux's fasteoi, so a level line still asserted is not sent again before
# its handler has quieted the device), and intr_stray OPS_STRAY.
# The 8259 side: the mask written is always  imask[current IPL] | held
# lines (spl.S); i8259_apply writes only the bytes that changed.
        .include "kernel.inc"

        .equ ICW1_INIT, 0x11             # ICW1: edge, cascade, ICW4 needed
        .equ ICW4_8086, 0x01
        .equ OCW3_READ_ISR, 0x0b

        .text
pic_init:
        mov al, 0xff                     # mask everything while we program
        out PIC1_DATA, al
        out PIC2_DATA, al
        mov al, ICW1_INIT
        out PIC1_CMD, al
        out PIC2_CMD, al
        mov al, IRQ_BASE                 # ICW2: vector bases 0x20 / 0x28
        out PIC1_DATA, al
        mov al, IRQ_BASE + 8
        out PIC2_DATA, al
        mov al, 0x04                     # ICW3: slave on IRQ 2 / slave id 2
        out PIC1_DATA, al
        mov al, 0x02
        out PIC2_DATA, al
        mov al, ICW4_8086
        out PIC1_DATA, al
        out PIC2_DATA, al
        mov al, 0xff                     # ICW4 leaves the IMR alone: mask again
        out PIC1_DATA, al
        out PIC2_DATA, al
        mov dword ptr [cpu0 + C_PICMASK], 0xffff
        ret

pic_apply:
        jmp [intr_ops + OPS_APPLY]

pic_eoi:
        jmp [intr_ops + OPS_EOI]

pic_hold:
        lock bts dword ptr [intr_held], ebx
obs_pic_hold:                            # EBX = line
        jmp [intr_ops + OPS_LINE]

pic_release:
.if BUG_NO_UNMASK
        test dword ptr gs:[C_IPL], 0x80000000   # never true: the line stays held
        jz 1f
.endif
        lock btr dword ptr [intr_held], ebx
1:
obs_pic_release:                         # EBX = line
        jmp [intr_ops + OPS_LINE]

# i8259_eoi: EBX = line.  Non-specific EOI to the slave (lines 8-15) and master.
i8259_eoi:
        mov al, PIC_EOI
        cmp ebx, 8
        jb 1f
        out PIC2_CMD, al
1:      out PIC1_CMD, al
        ret

# i8259_apply: write imask[IPL] | held to the PICs (only bytes that changed)
i8259_apply:
        push ecx
        mov eax, gs:[C_IPL]
        mov eax, [imask + eax*4]
        or eax, [intr_held]
        mov ecx, eax                     # cascade line 2 open iff a slave line is
        and ecx, 0xff00
        cmp ecx, 0xff00
        je 1f
        and eax, ~0x04
        jmp 2f
1:      or eax, 0x04
2:      mov ecx, gs:[C_PICMASK]
        mov gs:[C_PICMASK], eax
        xor ecx, eax
        test ecx, 0xff
        jz 3f
        out PIC1_DATA, al
3:      test ecx, 0xff00
        jz 4f
        mov al, ah
        out PIC2_DATA, al
4:      pop ecx
        ret

# i8259_stray: EBX = a line with no handler.  A spurious IRQ 7 / 15 (the
# request vanished before the acknowledge: its ISR bit is clear) gets no EOI
# from its own chip (the slave's gets the master's cascade EOI); anything
# else is acknowledged.  Clobbers EAX, ECX.
i8259_stray:
        mov al, OCW3_READ_ISR            # read the ISR next
        cmp ebx, 8
        jae 1f
        out PIC1_CMD, al
        in al, PIC1_CMD
        mov ecx, ebx
        jmp 2f
1:      out PIC2_CMD, al
        in al, PIC2_CMD
        lea ecx, [ebx - 8]
2:      bt eax, ecx
        jc i8259_eoi
        cmp ebx, 8                       # spurious: only the slave's cascade
        jb 3f                            # in-service bit on the master, if any
        mov al, PIC_EOI
        out PIC1_CMD, al
3:      ret

intr_nop:
        ret

        .data
        .align 4
intr_ops:                                # the controller in use (OPS_*): the 8259s
        .long i8259_apply, i8259_apply, i8259_eoi, i8259_eoi, intr_nop, i8259_stray
intr_held:      .long 0                  # lines held masked for their handler threads
