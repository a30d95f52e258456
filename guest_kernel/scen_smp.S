# scen_smp.S — scenarios about several CPUs: smp_contend, smp_ipi,
# smp_balance (smp_mpsafe: scen_mpsafe.S).  Each needs cpus=N with N > 1;
# on one CPU it prints a line saying it was skipped, and passes (smp_skip).
# What they print depends on nothing but the CPU count: the CPUs interleave
# differently on irqlab and QEMU, so counts that follow the interleaving are
# checked, not printed.
#   smp_contend: LWPs bound to every other CPU take the adaptive mutex
#       smp_mtx (1) while main holds it running a busy loop: they find the
#       owner running and spin (until every one spun, at most CONTEND_WORK
#       turns); (2) while main holds it asleep: they find the owner not
#       running and block on its turnstile, and main's release wakes them on
#       their CPUs; (3) every CPU updates a counter under the spin mutex
#       smp_spin 20 times, and no update is lost; (4) the other way round:
#       an LWP on CPU 1 holds smp_mtx asleep, main on CPU 0 blocks on it,
#       and the release on CPU 1 must wake main on CPU 0 (the old SMP code's
#       lost wake-up of a BSP waiter).
#   smp_ipi: (1) CPU 0 cross-calls every other CPU, (2) an LWP on every
#       other CPU cross-calls CPU 0 (each call returns the CPU it ran on),
#       (3) main sleeps on CPU 0 and an LWP on CPU 1 wakes it: the wake-up
#       is a reschedule IPI to CPU 0 (resched_ipi).
#   smp_balance: BALANCE_LWPS LWPs, all queued on CPU 1 (not bound); the
#       other CPUs, idle, take them from its queue (the busiest): every one
#       runs, and some on another CPU than 1.
        .include "kernel.inc"

        .equ CONTEND_WORK, 400000        # at most this many turns main holds smp_mtx running
        .equ CONTEND_SLEEP, 5            # ticks main holds it asleep
        .equ HOLDER_SLEEP, 3             # ticks the LWP on CPU 1 holds it asleep in (4)
        .equ SPIN_RUNS, 20
        .equ SPIN_WORK, 2000             # `loop` iterations inside one update
        .equ BALANCE_LWPS, 12
        .equ BALANCE_WORK, 20000         # pauses per LWP
        .equ IPI_TIMEOUT, 50             # ticks main sleeps at most in smp_ipi

        .text
# smp_skip: a scenario's one-CPU exit, jumped to (not called) with the
# scenario's saved EBX on the stack: "NAME: one CPU (skipped ...)", EAX = 0
smp_skip:
        PRINT scenario_name
        PRINT msg_skip
        xor eax, eax
        pop ebx
        ret

# spawn_on(EAX = entry, EDX = CPU index, EBX = name) -> EAX = a runnable LWP
# bound to that CPU (EDX is its argument too)
spawn_on:
        push ecx
        push esi
        mov ecx, PRI_KTHREAD
        xor esi, esi
        call lwp_create
        call lwp_place
        call setrunnable
        pop esi
        pop ecx
        ret

# spawn_others(EAX = entry): one LWP bound to each CPU but 0 (its argument:
# the CPU index), kept in others[]
spawn_others:
        push ebx
        push edx
        push edi
        mov edi, eax
        mov edx, 1
1:      cmp edx, [ncpus]
        jae 2f
        mov eax, edi
        mov ebx, name_other
        call spawn_on
        mov [others + edx*4], eax
        inc edx
        jmp 1b
2:      pop edi
        pop edx
        pop ebx
        ret

# wait_others: lwp_wait for each of others[]
wait_others:
        push ebx
        mov ebx, 1
1:      cmp ebx, [ncpus]
        jae 2f
        mov eax, [others + ebx*4]
        call lwp_wait
        inc ebx
        jmp 1b
2:      pop ebx
        ret

scen_smp_contend:
        push ebx
        cmp dword ptr [ncpus], 1
        jbe 8f
        mov ebx, smp_mtx                 # (1) the owner runs
        call mutex_enter
        mov eax, [mutex_spins]
        mov [spins_before], eax
        mov eax, contender
        call spawn_others
        mov ecx, CONTEND_WORK            # run until every other CPU spun
1:      mov eax, [mutex_spins]
        sub eax, [spins_before]
        mov edx, [ncpus]
        dec edx
        cmp eax, edx
        jae 2f
        pause                            # a spin-wait hint; QEMU's round robin
        loop 1b                          # lets the other vCPUs run at a pause
2:      mov [contend_spun], eax
        call mutex_exit
        call wait_others
        mov eax, [mutex_blocks]          # (2) the owner sleeps
        mov [blocks_before], eax
        call mutex_enter
        mov eax, contender
        call spawn_others
        mov edx, CONTEND_SLEEP
        call tsleep
        call mutex_exit                  # the waiters bit: turnstile_wakeup
        call wait_others
        mov eax, [mutex_blocks]
        sub eax, [blocks_before]
        mov [contend_blocked], eax
        mov dword ptr [spin_count], 0    # (3) a spin mutex from every CPU
        mov eax, spin_updates
        call spawn_others
        call spin_updates
        call wait_others
        mov ebx, smp_mtx                 # (4) a CPU 0 waiter, a CPU 1 releaser
        mov eax, mutex_holder
        mov edx, 1
        mov ebx, name_other
        call spawn_on
        mov [others + 4], eax
1:      mov eax, [others + 4]            # until it holds smp_mtx
        cmp dword ptr [holder_has], 0
        jne 2f
        mov edx, 1
        call tsleep
        jmp 1b
2:      mov ebx, smp_mtx
        call mutex_enter                 # it sleeps holding it: we block
        mov dword ptr [main_got], 1
        call mutex_exit
        mov eax, [others + 4]
        call lwp_wait
        mov edx, [ncpus]                 # the verdicts
        dec edx
        mov eax, msg_no_spin
        cmp [contend_spun], edx
        jb 9f
        PRINT msg_running
        mov eax, msg_no_block
        cmp [contend_blocked], edx
        jb 9f
        PRINT msg_asleep
        PRINT msg_spin_case
        mov eax, [ncpus]
        imul eax, eax, SPIN_RUNS
        call putdec
        PRINT msg_spin_updates
        mov eax, [ncpus]
        imul eax, eax, SPIN_RUNS
        cmp eax, [spin_count]
        mov eax, msg_spin_lost
        jne 9f
        PRINT msg_woken_cpu0
        xor eax, eax
        jmp 9f
8:      jmp smp_skip
9:      pop ebx
        ret

# contender: an LWP on another CPU takes smp_mtx once
contender:
        push ebx
        mov ebx, smp_mtx
        call mutex_enter
        lock inc dword ptr [contend_got]
        mov ecx, 1000
1:      loop 1b
        call mutex_exit
        pop ebx
        ret

# spin_updates: SPIN_RUNS read-modify-writes of spin_count under smp_spin
spin_updates:
        push ebx
        mov ebx, smp_spin
        mov edx, SPIN_RUNS
1:      call mutex_enter                 # IPL_HIGH on this CPU
        mov eax, [spin_count]            # exact only if the CPUs exclude
        mov ecx, SPIN_WORK               # each other
2:      pause
        loop 2b
        inc eax
        mov [spin_count], eax
        call mutex_exit
        dec edx
        jnz 1b
        pop ebx
        ret

# mutex_holder: (4) on CPU 1: take smp_mtx, sleep holding it, release it
mutex_holder:
        push ebx
        mov ebx, smp_mtx
        call mutex_enter
        mov dword ptr [holder_has], 1
        mov edx, HOLDER_SLEEP
        call tsleep
        mov ebx, smp_mtx                 # main blocked on it meanwhile
        call mutex_exit                  # its wake-up crosses to CPU 0
        pop ebx
        ret

scen_smp_ipi:
        push ebx
        cmp dword ptr [ncpus], 1
        jbe 8f
        mov ebx, 1                       # (1) CPU 0 -> each other CPU
1:      mov eax, xc_whoami
        mov edx, ebx
        call smp_xcall
        cmp eax, ebx
        mov eax, msg_xc_wrong
        jne 9f
        inc ebx
        cmp ebx, [ncpus]
        jb 1b
        PRINT msg_xc_aps
        mov dword ptr [ipi_got], 0       # (2) each other CPU -> CPU 0
        mov eax, call_cpu0
        call spawn_others
        call wait_others
        mov eax, [ncpus]
        dec eax
        cmp eax, [ipi_got]
        mov eax, msg_xc_wrong
        jne 9f
        PRINT msg_xc_bsp
        CURLWP eax                       # (3) main sleeps, CPU 1 wakes it
        mov [ipi_sleeper], eax
        mov dword ptr [ipi_woke], 0
        mov eax, wake_main
        mov edx, 1
        mov ebx, name_other
        call spawn_on
        mov [others + 4], eax
        SCHED_LOCK
        mov eax, ipi_chan
        mov edx, IPI_TIMEOUT
        call sleep_on
        SCHED_UNLOCK
        mov ebx, [ipi_woke]              # 0: the sleep timed out
        mov eax, [others + 4]
        call lwp_wait
        mov eax, msg_not_woken
        test ebx, ebx
        jz 9f
        PRINT msg_woken
        mov eax, ebx
        call putdec
        call newline
        xor eax, eax
        jmp 9f
8:      jmp smp_skip
9:      pop ebx
        ret

# xc_whoami: a cross-call function: EAX = the CPU it runs on
xc_whoami:
        mov eax, ebx
        ret

# call_cpu0: an LWP on another CPU cross-calls CPU 0
call_cpu0:
        mov eax, xc_whoami
        xor edx, edx
        call smp_xcall
        test eax, eax
        jnz 1f
        lock inc dword ptr [ipi_got]
1:      ret

# wake_main: on CPU 1, waits until main sleeps, then wakes it
wake_main:
        mov eax, [ipi_sleeper]
1:      pause
        cmp dword ptr [eax + L_STATE], LSSLEEP
        jne 1b
        mov eax, gs:[C_ID]
        mov [ipi_woke], eax
        mov eax, ipi_chan
        call wakeup                      # main is CPU 0's: a reschedule IPI
        ret

scen_smp_balance:
        push ebx
        cmp dword ptr [ncpus], 1
        jbe 8f
        xor ebx, ebx                     # BALANCE_LWPS LWPs queued on CPU 1
1:      push ebx
        mov eax, balance_lwp
        mov edx, ebx
        mov ecx, PRI_KTHREAD
        mov ebx, name_other
        xor esi, esi
        call lwp_create
        pop ebx
        mov [balancers + ebx*4], eax
        mov ecx, 1
        CPU_PTR edx, ecx
        mov [eax + L_CPU], edx           # queued there, free to move
        call setrunnable
        inc ebx
        cmp ebx, BALANCE_LWPS
        jb 1b
        xor ebx, ebx
2:      mov eax, [balancers + ebx*4]
        call lwp_wait
        inc ebx
        cmp ebx, BALANCE_LWPS
        jb 2b
        mov eax, msg_bal_lost
        cmp dword ptr [bal_done], BALANCE_LWPS
        jne 9f
        mov eax, msg_bal_none
        cmp dword ptr [bal_elsewhere], 0
        je 9f
        PRINT msg_bal
        xor eax, eax
        jmp 9f
8:      jmp smp_skip
9:      pop ebx
        ret

# balance_lwp: BALANCE_WORK pauses, then counts itself done (and where)
balance_lwp:
        mov ecx, BALANCE_WORK
1:      pause
        loop 1b
        lock inc dword ptr [bal_done]
        cmp dword ptr gs:[C_ID], 1
        je 2f
        lock inc dword ptr [bal_elsewhere]
2:      ret

        .data
name_other:      .asciz "smp"
msg_skip:        .asciz ": one CPU (skipped; use cpus=N)\n"
msg_running:     .asciz "smp_contend: owner running: the other cpus spun\n"
msg_asleep:      .asciz "smp_contend: owner asleep: the other cpus blocked\n"
msg_spin_case:   .asciz "smp_contend: spin mutex from every cpu: "
msg_spin_updates: .asciz " updates\n"
msg_woken_cpu0:  .asciz "smp_contend: a release on cpu 1 woke the waiter on cpu 0\n"
msg_no_spin:     .asciz "a cpu did not spin"
msg_no_block:    .asciz "a cpu did not block"
msg_spin_lost:   .asciz "spin mutex overlap"
msg_xc_aps:      .asciz "smp_ipi: 0 -> others ok\n"
msg_xc_bsp:      .asciz "smp_ipi: others -> 0 ok\n"
msg_woken:       .asciz "smp_ipi: IPI woke main from cpu "
msg_xc_wrong:    .asciz "wrong CPU"
msg_not_woken:   .asciz "no wake-up IPI"
msg_bal:         .asciz "smp_balance: 12 LWPs queued on cpu 1 all ran, some on other cpus\n"
msg_bal_lost:    .asciz "an LWP did not run"
msg_bal_none:    .asciz "no LWP moved"
        MUTEX smp_mtx, MUTEX_ADAPTIVE, IPL_NONE
        MUTEX smp_spin, MUTEX_SPIN, IPL_HIGH

        .bss
        .align 4
others:          .space MAX_CPUS * 4
balancers:       .space BALANCE_LWPS * 4
spins_before:    .space 4
blocks_before:   .space 4
contend_spun:    .space 4
contend_blocked: .space 4
contend_got:     .space 4
spin_count:      .space 4
holder_has:      .space 4
main_got:        .space 4
ipi_got:         .space 4
ipi_sleeper:     .space 4
ipi_woke:        .space 4
ipi_chan:        .space 4
bal_done:        .space 4
bal_elsewhere:   .space 4
