        .include "kernel.inc"
        .text
scen_soak:
        mov eax, msg_todo_soak
        ret
        .data
msg_todo_soak: .asciz "not written yet"
