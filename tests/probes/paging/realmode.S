# realmode.S — interrupts and exceptions in real-address mode (SDM vol. 3A
# 20.1.4): the vector table is the IVT (4-byte offset:segment entries at
# IDTR base 0); the CPU pushes FLAGS, CS and IP (no error code) and clears
# IF.  The AP starts in real mode (INIT-SIPI-SIPI) in this probe's own
# trampoline, which takes `int 0x40` (saved IP = the next instruction, IF
# clear in the handler), #DE from `div` and #UD from `ud2` (saved IP = the
# faulting instruction; the handlers step over it), then goes on to
# protected mode as lib.S's trampoline does; the AP then prints what the
# real-mode handlers saw.  Run with 2 CPUs.
        .include "lib.S"

        .equ REC, TRAMPOLINE + (rm_records - rm_tramp)

        .text
main:
        mov esi, rm_tramp              # this probe's trampoline over lib.S's
        mov edi, TRAMPOLINE
        mov ecx, rm_tramp_end - rm_tramp
        cld
        rep movsb
        mov dword ptr [ap_main], ap_report
        mov eax, 1
        call start_ap
        ret

# ap_report: on the AP, back in protected mode: one line per check
ap_report:
        mov ax, word ptr [REC]
        cmp ax, rm_after_int - rm_tramp
        sete al
        PUTS msg_int
        call puthex2
        mov ax, word ptr [REC + 2]
        shr ax, 9
        and al, 1
        PUTS msg_if
        call puthex2
        mov ax, word ptr [REC + 4]
        cmp ax, rm_div - rm_tramp
        sete al
        PUTS msg_de
        call puthex2
        mov ax, word ptr [REC + 6]
        cmp ax, rm_ud - rm_tramp
        sete al
        PUTS msg_ud
        call puthex2
        mov ax, word ptr [REC + 8]
        cmp ax, 0x800                  # the handlers' CS: the trampoline's segment
        sete al
        PUTS msg_cs
        call puthex2
        call newline
        ret

        .code16
rm_tramp:
        cli
        mov ax, cs
        mov ds, ax
        mov ss, ax
        mov sp, 0x0ff0
        xor bx, bx
        mov es, bx
        mov word ptr es:[0x40 * 4], rm_int40 - rm_tramp
        mov word ptr es:[0x40 * 4 + 2], ax
        mov word ptr es:[0 * 4], rm_de_handler - rm_tramp
        mov word ptr es:[0 * 4 + 2], ax
        mov word ptr es:[6 * 4], rm_ud_handler - rm_tramp
        mov word ptr es:[6 * 4 + 2], ax
        sti
        int 0x40
rm_after_int:
        xor dx, dx
        xor cx, cx
        mov ax, 1
rm_div:
        div cx
        ud2
rm_ud = rm_div + 2
        cli
        lgdt [rm_gdtr - rm_tramp]
        mov eax, cr0
        or eax, 1
        mov cr0, eax
        .byte 0x66, 0xea
        .long ap_entry32
        .short KERNEL_CS

rm_int40:
        push bp
        mov bp, sp
        mov ax, [bp + 2]
        mov [rm_records - rm_tramp], ax
        pushf
        pop ax
        mov [rm_records - rm_tramp + 2], ax
        mov ax, [bp + 4]
        mov [rm_records - rm_tramp + 8], ax
        pop bp
        iret
rm_de_handler:
        push bp
        mov bp, sp
        mov ax, [bp + 2]
        mov [rm_records - rm_tramp + 4], ax
        add word ptr [bp + 2], 2       # past div cx (f7 f1)
        pop bp
        iret
rm_ud_handler:
        push bp
        mov bp, sp
        mov ax, [bp + 2]
        mov [rm_records - rm_tramp + 6], ax
        add word ptr [bp + 2], 2       # past ud2 (0f 0b)
        pop bp
        iret
        .align 4
rm_gdtr:
        .short gdt_end - gdt - 1
        .long gdt
rm_records:
        .short 0, 0, 0, 0, 0
rm_tramp_end:
        .code32

        .data
msg_int: .asciz "int40_ip_next"
msg_if:  .asciz " if"
msg_de:  .asciz " de_ip_fault"
msg_ud:  .asciz " ud_ip_fault"
msg_cs:  .asciz " cs"
