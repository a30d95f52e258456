# nmi_iret.S — NMI blocking across an iret that faults (SDM vol. 3A 6.7.1:
# "an execution of IRET unblocks NMIs even if the instruction causes a
# fault").  The NMI handler sends itself a second NMI (held: NMIs are
# blocked), puts a selector past the GDT into its frame's CS and irets: the
# iret faults (#GP).  NMIs were unblocked by that iret, so the held NMI is
# taken before the #GP handler's first instruction, which then counts 2
# NMIs.  (QEMU 7.2 unblocks only when an iret completes: it counts 1 there.)
# The #GP handler repairs the frame and the NMI handler's iret completes.
        .include "lib.S"

        .text
main:
        mov eax, nmi_handler
        mov ebx, 2
        call set_gate
        mov eax, gp_handler
        mov ebx, 13
        call set_gate
        xor edx, edx
        mov eax, ICR_NMI | ICR_SELF
        call send_ipi                  # the first NMI
        mov ecx, 1000
        call delay
        PUTS msg_at_gp
        mov al, byte ptr [count_at_gp]
        call puthex2
        PUTS msg_total
        mov al, byte ptr [nmi_count]
        call puthex2
        PUTS msg_gp
        mov al, byte ptr [gp_error]
        call puthex2
        call newline
        ret

nmi_handler:
        inc dword ptr [nmi_count]
        cmp dword ptr [nmi_count], 1
        jne nmi_out
        push eax
        push edx
        xor edx, edx
        mov eax, ICR_NMI | ICR_SELF
        call send_ipi                  # a second NMI: held while blocked
        pop edx
        pop eax
        mov dword ptr [esp + 4], 0x28  # CS past the GDT: this iret faults
nmi_out:
        iret

gp_handler:
        push eax
        mov eax, [nmi_count]
        mov [count_at_gp], eax
        mov eax, [esp + 4]
        mov [gp_error], eax
        mov dword ptr [esp + 24], KERNEL_CS     # the NMI frame's CS, repaired
        pop eax
        add esp, 4
        iret

        .data
        .align 4
nmi_count:   .long 0
count_at_gp: .long 0
gp_error:    .long 0
msg_at_gp:   .asciz "nmis at #gp handler "
msg_total:   .asciz " total "
msg_gp:      .asciz " gp error "
