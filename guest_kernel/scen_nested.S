        .include "kernel.inc"
        .text
scen_nested:
        mov eax, msg_todo_nested
        ret
        .data
msg_todo_nested: .asciz "not written yet"
