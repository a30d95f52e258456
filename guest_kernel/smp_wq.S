# smp_wq.S — per-CPU run queues of work items, and balancing by stealing.
#
# Each AP has a run queue of work items (a LIFO of WQ_DEPTH functions,
# wq_fn[cpu]); its idle loop (ap_loop, smp.S) runs its own items first and,
# when its queue is empty, takes one from the busiest queue (the one with
# the most items) before it halts.  Items run to completion on the AP's bound
# LWP with IF=1 (EBX = APIC ID, ESI = cpu_info); they are not LWPs: the UP
# scheduler's LWPs stay on the BSP.  One lock (wq_lock, a test-and-set spin
# lock taken with IF=0 only) guards every queue.
# smp_wq_put(EAX = function, EDX = APIC ID of an AP): queue it there (any
#     CPU; the queue must have room) and kick the APs.  Keeps all but EAX.
# wq_get: an AP's ap_loop, IF=0, EBX = its APIC ID -> EAX = an item or 0.
#     Clobbers ECX, EDX.  A steal counts in wq_stolen (obs_wq_steal).
        .include "kernel.inc"

        .equ WQ_DEPTH, 16

        .data                            # code too: see SMP_BLOB in kernel.inc
smp_wq_put:
        pushf
        cli
        push ecx
        push edx
        call wq_lock_take
        mov ecx, [wq_n + edx*4]
        inc dword ptr [wq_n + edx*4]
        shl edx, 4                       # WQ_DEPTH items per CPU
        add edx, ecx
        mov [wq_fn + edx*4], eax
        mov dword ptr [wq_lock], 0
        pop edx
        pop ecx
        popf
        jmp smp_kick

wq_get:
        call wq_lock_take
        mov edx, ebx                     # this CPU's queue first
        cmp dword ptr [wq_n + edx*4], 0
        jne 3f
        mov ecx, MAX_CPUS - 1            # else the busiest queue
1:      mov eax, [wq_n + ecx*4]
        cmp eax, [wq_n + edx*4]
        jbe 2f
        mov edx, ecx
2:      loop 1b
        xor eax, eax
        cmp [wq_n + edx*4], eax
        je 4f                            # nothing anywhere
obs_wq_steal:                            # EBX = the idle AP, EDX = the busiest AP it takes from
        inc dword ptr [wq_stolen]
3:      dec dword ptr [wq_n + edx*4]
        mov ecx, [wq_n + edx*4]
        shl edx, 4
        add edx, ecx
        mov eax, [wq_fn + edx*4]
4:      mov dword ptr [wq_lock], 0
        ret

wq_lock_take:
        lock bts dword ptr [wq_lock], 0
        jnc 1f
        pause
        jmp wq_lock_take
1:      ret

        .bss
        .align 4
wq_lock:        .space 4
wq_n:           .space MAX_CPUS * 4      # items queued per CPU
wq_ran:         .space MAX_CPUS * 4      # items run per CPU
wq_stolen:      .space 4                 # items an idle AP took from another queue
wq_fn:          .space MAX_CPUS * WQ_DEPTH * 4
