# trap.S — CPU exceptions and panic: report and stop.
#
# trap_entry: a vector stub (gen/vectors.S) of vectors 0-31 pushed the
#     error code (or 0) and the vector, IF=0: print "panic: exception N at
#     eip 0x...", exit with status 3.
# panic(ESI = message): print "panic: " and the message, exit with status 3.
# Neither returns.
        .include "kernel.inc"

        .text
trap_entry:
        pushad
        mov esi, msg_trap
        call puts
        mov eax, [esp + 32]              # vector
        call putdec
        mov esi, msg_at
        call puts
        mov eax, [esp + 40]              # faulting EIP
        call puthex
        call newline
        mov al, 3
        jmp kernel_exit

panic:
        cli
        push esi
        mov esi, msg_panic
        call puts
        pop esi
        call puts
        call newline
        mov al, 3
        jmp kernel_exit

        .data
msg_trap:  .asciz "panic: exception "
msg_at:    .asciz " at eip 0x"
msg_panic: .asciz "panic: "
