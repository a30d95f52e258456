        .include "kernel.inc"
        .text
scen_biglock:
        mov eax, msg_todo_biglock
        ret
        .data
msg_todo_biglock: .asciz "not written yet"
