# scenarios.S — the scenario table (every scenario, for every CPU count),
# hello and preempt.
#
# Each scenario is called by main (LWP 0, IF=1, IPL_NONE) and returns
# EAX = 0 for pass or the address of a reason string.  What a scenario
# prints depends only on virtual time, never on the host.
#   hello:   a banner line and three clock ticks.
#   preempt: three CPU-bound LWPs of equal priority share main's CPU (they
#            are bound to it: round robin is one CPU's business) under
#            clock preemption (every QUANTUM_TICKS); each must have been
#            switched in more than once, and all must finish.
        .include "kernel.inc"

        .equ PREEMPT_WORK, 300000        # loop iterations of worker A

        .data
        .align 4
        .include "gen/scenario_table.inc"   # from catalog.py

        .text
scen_hello:
        PRINT msg_hello
        mov ebx, 1
1:      mov edx, 1
        call tsleep
        PRINT msg_tick
        mov eax, ebx
        call putdec
        call newline
        inc ebx
        cmp ebx, 3
        jbe 1b
        xor eax, eax
        ret

scen_preempt:
        xor ebx, ebx                     # create workers 0, 1, 2
1:      mov eax, preempt_worker
        mov edx, ebx
        mov ecx, PRI_KTHREAD
        push ebx
        mov ebx, [worker_names + ebx*4]
        xor esi, esi
        call lwp_create
        pop ebx
        mov [workers + ebx*4], eax
        mov edx, gs:[C_ID]               # on main's CPU
        call lwp_place
        call setrunnable
        inc ebx
        cmp ebx, 3
        jb 1b
        xor ebx, ebx                     # wait for each, in order
2:      mov eax, [workers + ebx*4]
        call lwp_wait
        inc ebx
        cmp ebx, 3
        jb 2b
        xor ebx, ebx                     # each must have been preempted
3:      mov eax, [workers + ebx*4]
        cmp dword ptr [eax + L_NRUN], 2
        jb 4f
        inc ebx
        cmp ebx, 3
        jb 3b
        PRINT msg_allfinished
        xor eax, eax
        ret
4:      mov eax, msg_notpreempted
        ret

# preempt_worker: EAX = index; PREEMPT_WORK * (index + 1) iterations
preempt_worker:
        push ebx
        mov ebx, eax
        lea ecx, [eax + 1]
        imul ecx, ecx, PREEMPT_WORK
1:      dec ecx                          # pure CPU work; only the clock stops it
        jnz 1b
        PRINT msg_worker
        mov eax, [worker_names + ebx*4]
        PRINT eax
        PRINT msg_done
        pop ebx
        ret

        .data
msg_hello:        .asciz "hello: three clock ticks\n"
msg_tick:         .asciz "tick "
msg_worker:       .asciz "worker "
msg_done:         .asciz " done\n"
msg_allfinished:  .asciz "preempt: all three workers finished, each preempted\n"
msg_notpreempted: .asciz "a worker was never preempted"
wname_a: .asciz "A"
wname_b: .asciz "B"
wname_c: .asciz "C"
        .align 4
worker_names: .long wname_a, wname_b, wname_c
workers:      .long 0, 0, 0
