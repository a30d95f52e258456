# idle.S — the idle LWP: halt until something is runnable.
#
# idle_loop: the entry of LWP "idle" (PRI_IDLE, LF_IDLE), which is never on
# a run queue: sched_pick falls back to it when every queue is empty.  With
# IF=0 it looks at the run queues; if one is non-empty it switches (leaving
# itself LSRUN, off the queues), else it halts with `sti; hlt` — the
# interrupt that ends the halt cannot slip in between the check and the hlt,
# because sti takes effect only after the next instruction.
        .include "kernel.inc"

        .text
idle_loop:
        cli
        mov dword ptr [cpu0 + C_IPL], IPL_NONE
1:      mov ecx, NPRI - 1
2:      cmp dword ptr [runq_head + ecx*4], 0
        jne 3f
        dec ecx
        jns 2b
obs_idle:
        sti                              # sti; hlt: no interrupt slips in between
        hlt
        cli
        jmp 1b
3:      CURLWP eax
        mov dword ptr [eax + L_STATE], LSRUN   # idle waits off the queues
        call mi_switch
        jmp 1b

