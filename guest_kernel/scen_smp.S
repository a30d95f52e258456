# scen_smp.S — the multiprocessor scenarios: smp_contend, smp_biglock,
# smp_ipi, smp_balance.
#
# smp_dispatch: main jumps here (instead of failing) when scenario=NAME is
#     not in scenario_table, so the UP scenarios' code, data and timing stay
#     exactly as they were.  `scenario=smp:NAME` starts the APs (smp_init)
#     and runs NAME, any scenario, from main's lookup (the UP scenarios then
#     run on the BSP with the APs up and idle, the BSP's clock and device
#     lines through its LAPIC and the IO APIC: smp_intr.S); otherwise runs
#     the smp scenario NAME and goes back to main_pass / main_fail; an
#     unknown name fails as before.
# Each scenario boots the APs (smp_boot: smp_init, cpus=N on the command
# line) and on one CPU prints a line saying it was skipped, then PASS
# (smp_skip).
#   smp_contend: LWP main holds the adaptive mutex smp_mtx (1) while it runs
#       a busy loop (until an AP spins, at most CONTEND_WORK turns): every
#       AP's LWP finds the owner running and spins; (2)
#       while it sleeps: every AP finds the owner not running and blocks.
#       (3) every CPU runs the handler (ap_handlers) under the spin
#       mutex smp_spin.  Passes when (1) spun, (2) blocked and (3) lost no
#       update.
#   smp_biglock: every CPU (main on the BSP, the bound LWP on each AP) runs
#       a handler HANDLER_RUNS times, first not MPSAFE (under the big lock),
#       then MPSAFE (no big lock); prints, per case, how many spin iterations
#       the CPUs spent waiting for the big lock (and that times
#       BIGWAIT_INSNS, in ns of virtual time).  Passes when the non-MPSAFE
#       handlers excluded each other (the shared count is exact) and the
#       MPSAFE ones never waited.
#   smp_ipi, smp_balance: at their labels below (cross-calls and the
#       reschedule IPI; work items stolen from the busiest run queue).
        .include "kernel.inc"

        .equ CONTEND_WORK, 200000        # at most this many turns main holds smp_mtx running
        .equ CONTEND_SLEEP, 5            # ticks main holds it asleep
        .equ HANDLER_RUNS, 20
        .equ HANDLER_WORK, 2000          # `loop` iterations inside one handler
        .equ SMP_PREFIX, 0x3a706d73      # "smp:" as a little-endian dword
        .equ WQ_ITEMS, 12                # smp_balance (README and test_smp say 12)
        .equ WQ_WORK, 20000              # pauses per work item
        .equ IPI_TIMEOUT, 50             # ticks main sleeps at most in smp_ipi
        .equ BIGWAIT_INSNS, 6            # instructions per smp_kernel_lock wait iteration

        .data                            # code too: see SMP_BLOB in kernel.inc
smp_dispatch:
        cmp dword ptr [scenario_name], SMP_PREFIX
        jne 0f
        call smp_init                    # smp:NAME: start the APs, then run NAME
        test eax, eax
        jnz main_fail
        xor ecx, ecx                     # strip the prefix
1:      mov al, [scenario_name + 4 + ecx]
        mov [scenario_name + ecx], al
        inc ecx
        test al, al
        jnz 1b
        jmp main_lookup
0:      mov esi, smp_scenario_table
1:      mov edi, [esi]
        test edi, edi
        jz 5f
        push esi
        mov esi, scenario_name
2:      mov al, [esi]
        cmp al, [edi]
        jne 3f
        test al, al
        jz 4f
        inc esi
        inc edi
        jmp 2b
3:      pop esi
        add esi, 8
        jmp 1b
4:      pop esi
        call [esi + 4]
        test eax, eax
        jz main_pass
        jmp main_fail
5:      mov eax, msg_unknown
        jmp main_fail

# smp_skip: a scenario's one-CPU exit, jumped to (not called) with the
# scenario's saved EBX on the stack: "NAME: one CPU (skipped ...)", EAX = 0
smp_skip:
        PRINT scenario_name
        PRINT msg_skip
        xor eax, eax
        pop ebx
        ret

# smp_boot: smp_init; EAX = 0 (CF=1 when on one CPU) or a reason
smp_boot:
        call smp_init
        test eax, eax
        jnz 9f
        cmp dword ptr [smp_ncpus], 1
        ja 1f
        stc
        ret
1:      xor eax, eax                     # clears CF
9:      ret

scen_smp_contend:
        push ebx
        call smp_boot
        jc 8f
        test eax, eax
        jnz 9f
        mov ebx, smp_mtx                 # (1) the owner runs
        call mutex_enter
        mov eax, ap_contend
        call smp_post
        mov ecx, CONTEND_WORK            # run until an AP spins (or long enough)
1:      cmp dword ptr [smp_spins], 0
        jne 2f
        pause                            # a spin-wait hint; QEMU's round robin
        loop 1b                          # lets the other vCPUs run at a pause
2:      call mutex_exit
        call smp_wait
        mov eax, [smp_spins]
        mov [contend_spins], eax
        mov eax, [smp_blocks]
        mov [contend_blocks], eax
        mov dword ptr [smp_spins], 0     # (2) the owner sleeps
        mov dword ptr [smp_blocks], 0
        call mutex_enter
        mov eax, ap_contend
        call smp_post
        mov edx, CONTEND_SLEEP
        call tsleep
        call mutex_exit                  # waiters bit: turnstile_wakeup frees it
        call smp_kick                    # and the blocked APs look again
        call smp_wait
        PRINT msg_running
        mov eax, [contend_spins]
        call putdec
        PRINT msg_spins
        mov eax, [contend_blocks]
        call putdec
        PRINT msg_blocks
        PRINT msg_asleep
        mov eax, [smp_spins]
        call putdec
        PRINT msg_spins
        mov eax, [smp_blocks]
        call putdec
        PRINT msg_blocks
        mov dword ptr [biglock_mpsafe], 2  # (3) a spin mutex from every CPU
        call spin_case
        mov eax, msg_no_spin
        cmp dword ptr [contend_spins], 0
        je 9f
        mov eax, msg_no_block
        cmp dword ptr [smp_blocks], 0
        je 9f
        mov eax, [smp_ncpus]             # every AP took the mutex twice
        dec eax
        shl eax, 1
        cmp eax, [contend_got]
        mov eax, msg_lost_ap
        jne 9f
        mov eax, [smp_ncpus]
        imul eax, eax, HANDLER_RUNS
        cmp eax, [smp_shared]
        mov eax, msg_spin_lost
        jne 9f
        xor eax, eax
        jmp 9f
8:      jmp smp_skip
9:      pop ebx
        ret

# spin_case: every CPU runs the handler under the spin mutex smp_spin
spin_case:
        mov dword ptr [smp_shared], 0
        mov eax, ap_handlers
        call smp_post
        xor ebx, ebx
        call ap_handlers
        call smp_wait
        PRINT msg_spin_case
        mov eax, [smp_shared]
        call putdec
        PRINT msg_spin_updates
        ret

# smp_ipi: (1) the BSP cross-calls every AP, (2) every AP cross-calls the
# BSP, (3) main sleeps on the BSP and AP 1 wakes it with a reschedule IPI
# (smp_wakeup).  Each cross-call returns the APIC ID it ran on.
scen_smp_ipi:
        push ebx
        call smp_boot
        jc 8f
        test eax, eax
        jnz 9f
        mov ebx, 1                       # (1) BSP -> each AP
1:      mov eax, xc_whoami
        mov edx, ebx
        call smp_xcall
        cmp eax, ebx
        mov eax, msg_xc_wrong
        jne 9f
        inc ebx
        cmp ebx, [smp_ncpus]
        jb 1b
        PRINT msg_xc_aps
        mov dword ptr [ipi_got], 0       # (2) each AP -> the BSP
        mov eax, ap_call_bsp
        call smp_run
        mov eax, [smp_ncpus]
        dec eax
        cmp eax, [ipi_got]
        mov eax, msg_xc_wrong
        jne 9f
        PRINT msg_xc_bsp
        CURLWP eax                       # (3) main sleeps, AP 1 wakes it
        mov [ipi_sleeper], eax
        mov dword ptr [ipi_woke], 0
        mov eax, ap_wake_main
        call smp_post
        pushf
        cli
        mov eax, ipi_chan
        mov edx, IPI_TIMEOUT
        call sleep_on
        popf
        mov ebx, [ipi_woke]              # 0: the sleep timed out
        call smp_wait
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

# smp_balance: WQ_ITEMS work items all queued on AP 1's run queue; the
# other APs, idle, take them from it (the busiest queue).  Passes when every
# item ran and, with 3 CPUs or more, some were taken by another AP.
scen_smp_balance:
        push ebx
        call smp_boot
        jc 8f
        test eax, eax
        jnz 9f
        mov ebx, WQ_ITEMS
1:      mov eax, wq_item
        mov edx, 1
        call smp_wq_put
        dec ebx
        jnz 1b
2:      cmp dword ptr [wq_done], WQ_ITEMS
        jae 3f
        mov edx, 1                       # wait a tick at a time
        call tsleep
        jmp 2b
3:      PRINT msg_wq
        mov eax, [wq_stolen]
        call putdec
        call newline
        xor eax, eax
        cmp dword ptr [smp_ncpus], 2
        jbe 9f                           # one AP: nobody to take them
        cmp [wq_stolen], eax
        jne 9f
        mov eax, msg_wq_none
        jmp 9f
8:      jmp smp_skip
9:      pop ebx
        ret

# wq_item: a work item: WQ_WORK pauses, then counts itself done
wq_item:
        mov ecx, WQ_WORK
1:      pause
        loop 1b
        lock inc dword ptr [wq_done]
        ret

# xc_whoami: a cross-call function: EAX = the APIC ID of the CPU it runs on
xc_whoami:
        mov eax, ebx
        ret

# ap_call_bsp: an AP cross-calls the BSP (EBX = its APIC ID)
ap_call_bsp:
        mov eax, xc_whoami
        xor edx, edx
        call smp_xcall
        test eax, eax
        jnz 1f
        lock inc dword ptr [ipi_got]
1:      ret

# ap_wake_main: AP 1 waits until main sleeps, then wakes it by IPI
ap_wake_main:
        cmp ebx, 1
        jne 2f
        mov eax, [ipi_sleeper]
1:      pause
        cmp dword ptr [eax + L_STATE], LSSLEEP
        jne 1b
        mov [ipi_woke], ebx
        mov eax, ipi_chan
        call smp_wakeup
2:      ret

# ap_contend: an AP's LWP takes smp_mtx once (EBX = APIC ID)
ap_contend:
        push ebx
        mov ebx, smp_mtx
        call smp_mutex_enter
        lock inc dword ptr [contend_got]
        mov ecx, 1000
1:      loop 1b
        call smp_mutex_exit
        pop ebx
        ret

scen_smp_biglock:
        push ebx
        call smp_boot
        jc 8f
        test eax, eax
        jnz 9f
        mov dword ptr [biglock_mpsafe], 0
        call biglock_case
        mov [biglock_wait_locked], eax
        mov eax, [smp_ncpus]
        imul eax, eax, HANDLER_RUNS
        cmp eax, [smp_shared]
        mov eax, msg_not_excluded
        jne 9f
        mov dword ptr [biglock_mpsafe], 1
        call biglock_case
        mov [biglock_wait_mpsafe], eax
        mov eax, [smp_ncpus]
        imul eax, eax, HANDLER_RUNS
        cmp eax, [smp_shared]
        mov eax, msg_lost_count
        jne 9f
        mov eax, msg_no_wait
        cmp dword ptr [biglock_wait_locked], 0
        je 9f
        mov eax, msg_mpsafe_waited
        cmp dword ptr [biglock_wait_mpsafe], 0
        jne 9f
        xor eax, eax
        jmp 9f
8:      jmp smp_skip
9:      pop ebx
        ret

# biglock_case: every CPU runs the handlers; prints the wait; EAX = total wait
biglock_case:
        push ebx
        push ecx
        push edi
        mov edi, smp_bigwait
        mov ecx, 8
        xor eax, eax
        cld
        rep stosd
        mov dword ptr [smp_shared], 0
        mov eax, ap_handlers
        call smp_post
        xor ebx, ebx                     # the BSP's main runs them too
        call ap_handlers
        call smp_wait
        PRINT msg_case_locked
        cmp dword ptr [biglock_mpsafe], 0
        je 1f
        PRINT msg_case_mpsafe
1:      PRINT msg_waited
        xor ebx, ebx                     # total, then per CPU
        xor ecx, ecx
2:      add ebx, [smp_bigwait + ecx*4]
        inc ecx
        cmp ecx, [smp_ncpus]
        jb 2b
        mov eax, ebx
        call putdec
        PRINT msg_spin_per_cpu
        xor ecx, ecx
3:      mov eax, [smp_bigwait + ecx*4]
        call putdec
        inc ecx
        cmp ecx, [smp_ncpus]
        jae 4f
        PRINT msg_space
        jmp 3b
4:      PRINT msg_close                  # ") = N ns": virtual time spent spinning
        imul eax, ebx, BIGWAIT_INSNS     # (icount shift 0: one instruction, one ns)
        call putdec
        PRINT msg_ns
        mov eax, ebx
        pop edi
        pop ecx
        pop ebx
        ret

# ap_handlers: HANDLER_RUNS runs of the handler on this CPU (EBX = APIC ID)
ap_handlers:
        push ecx
        push edx
        push esi
        mov edx, HANDLER_RUNS
1:      test ebx, ebx                    # on the BSP a handler runs at IPL_VM, as
        jnz 6f                           # an interrupt would: no preemption (which
        mov eax, IPL_VM                  # drops the big lock) in the middle
        call splraise
        mov esi, eax
6:      push ebx
        mov ebx, smp_spin
        cmp dword ptr [biglock_mpsafe], 1
        je 2f                            # MPSAFE
        ja 8f
        call smp_kernel_lock             # not MPSAFE: the big lock around it
        jmp 9f
8:      call smp_spin_enter              # (smp_contend) a spin mutex around it
9:      mov eax, [smp_shared]            # read-modify-write across the work:
        mov ecx, HANDLER_WORK            # exact only if handlers exclude
3:      pause                            # (the work; a pause lets QEMU interleave)
        loop 3b
        inc eax
        mov [smp_shared], eax
        cmp dword ptr [biglock_mpsafe], 2
        je 8f
        call smp_kernel_unlock
        jmp 4f
8:      call smp_spin_exit
        jmp 4f
2:      mov ecx, HANDLER_WORK            # MPSAFE: its own (atomic) update
5:      pause
        loop 5b
        lock inc dword ptr [smp_shared]
4:      pop ebx
        test ebx, ebx
        jnz 7f
        mov eax, esi
        call splx
7:      dec edx
        jnz 1b
        pop esi
        pop edx
        pop ecx
        ret

        .data
        .align 4
        .include "gen/smp_scenario_table.inc"   # from catalog.py
        MUTEX smp_mtx, MUTEX_ADAPTIVE, IPL_NONE
        MUTEX smp_spin, MUTEX_SPIN, IPL_HIGH
msg_running:     .asciz "smp_contend: owner running: "
msg_asleep:      .asciz "smp_contend: owner asleep: "
msg_spins:       .asciz " spin iterations, "
msg_blocks:      .asciz " blocks\n"
msg_skip:        .asciz ": one CPU (skipped; use cpus=N)\n"
msg_no_spin:     .asciz "no AP spun"
msg_no_block:    .asciz "no AP blocked"
msg_spin_case:   .asciz "smp_contend: spin mutex from every cpu: "
msg_spin_updates: .asciz " updates\n"
msg_spin_lost:   .asciz "spin mutex overlap"
msg_lost_ap:     .asciz "an AP missed the mutex"
msg_case_locked: .asciz "smp_biglock: handlers"
msg_case_mpsafe: .asciz " MPSAFE"
msg_waited:      .asciz ": big-lock wait "
msg_spin_per_cpu: .asciz " spin iterations (per cpu "
msg_space:       .asciz " "
msg_close:       .asciz ") = "
msg_ns:          .asciz " ns\n"
msg_not_excluded: .asciz "non-MPSAFE overlap"
msg_lost_count:  .asciz "MPSAFE lost an update"
msg_no_wait:     .asciz "no big-lock wait"
msg_mpsafe_waited: .asciz "MPSAFE waited"
msg_xc_aps:      .asciz "smp_ipi: 0 -> APs ok\n"
msg_xc_bsp:      .asciz "smp_ipi: APs -> 0 ok\n"
msg_woken:       .asciz "smp_ipi: IPI woke main from cpu "
msg_xc_wrong:    .asciz "wrong CPU"
msg_not_woken:   .asciz "no wake-up IPI"
msg_wq:          .asciz "smp_balance: stolen "
msg_wq_none:     .asciz "no steal"

        .bss
        .align 4
contend_spins:  .space 4
contend_blocks: .space 4
contend_got:    .space 4
biglock_mpsafe: .space 4
biglock_wait_locked: .space 4
biglock_wait_mpsafe: .space 4
smp_shared:     .space 4
ipi_got:        .space 4
ipi_sleeper:    .space 4
ipi_woke:       .space 4
ipi_chan:       .space 4
wq_done:        .space 4

        .data
        # the SMP blob (smp*.S, this file) ends at exactly SMP_BLOB
smp_blob_end:
        .space SMP_BLOB - (smp_blob_end - smp_blob_start)
