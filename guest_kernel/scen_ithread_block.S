        .include "kernel.inc"
        .text
scen_ithread_block:
        mov eax, msg_todo_ithread_block
        ret
        .data
msg_todo_ithread_block: .asciz "not written yet"
