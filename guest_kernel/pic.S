# pic.S — the two 8259A PICs: initialisation, EOI, and the line mask.
#
# The mask written to the PICs is always  imask[current IPL] | held lines
# (see spl.S for the IPL half; pic_hold/pic_release are how the ithread and
# threaded models keep a line masked while its handler thread runs).
# pic_apply writes only the bytes that changed.  Every routine here expects
# IF=0 (callers use pushf/cli/popf) and keeps every register but EAX.
        .include "kernel.inc"

        .equ ICW1_INIT, 0x11             # ICW1: edge, cascade, ICW4 needed
        .equ ICW4_8086, 0x01

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

# pic_eoi: EBX = line.  Non-specific EOI to the slave (lines 8-15) and master.
pic_eoi:
        mov al, PIC_EOI
        cmp ebx, 8
        jb 1f
        out PIC2_CMD, al
1:      out PIC1_CMD, al
        ret

# pic_hold: EBX = line, masked until pic_release (the handler thread runs)
pic_hold:
        bts dword ptr [cpu0 + C_HELDMASK], ebx
obs_pic_hold:                            # EBX = line
        jmp pic_apply

# pic_release: EBX = line; its handler finished, unmask it (if the IPL allows)
pic_release:
.if BUG_NO_UNMASK
        test dword ptr [cpu0 + C_IPL], 0x80000000  # never true: the line stays held
        jz 1f
.endif
        btr dword ptr [cpu0 + C_HELDMASK], ebx
1:
obs_pic_release:                         # EBX = line
        jmp pic_apply

# pic_apply: write imask[IPL] | held to the PICs (only bytes that changed)
pic_apply:
        push ecx
        mov eax, [cpu0 + C_IPL]
        mov eax, [imask + eax*4]
        or eax, [cpu0 + C_HELDMASK]
        mov ecx, eax                     # cascade line 2 open iff a slave line is
        and ecx, 0xff00
        cmp ecx, 0xff00
        je 1f
        and eax, ~0x04
        jmp 2f
1:      or eax, 0x04
2:      mov ecx, [cpu0 + C_PICMASK]
        mov [cpu0 + C_PICMASK], eax
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
