        .include "kernel.inc"
        .text
scen_storm:
        mov eax, msg_todo_storm
        ret
        .data
msg_todo_storm: .asciz "not written yet"
