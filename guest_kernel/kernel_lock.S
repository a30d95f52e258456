# kernel_lock.S — the big lock: recursive, per CPU and per LWP, any CPU.
#
# kernel_lock: take one hold.  If this CPU already owns it (the current LWP
#     holds it, or the LWP a borrowing interrupt LWP pinned does), only the
#     counts grow; otherwise `lock cmpxchg` KL_CPU from 0 to this CPU's
#     per-CPU data, spinning while another CPU holds it, with the caller's
#     IF between tries (interrupts are taken, the clock keeps ticking, as
#     NetBSD's _kernel_lock spins at the caller's spl): the current LWP is
#     its CPU's C_BIGWANTED meanwhile (an adaptive mutex it owns is then not
#     worth spinning for: mutex_oncpu, mutex.S), and each wait iteration
#     (BIGWAIT_INSNS instructions) counts in C_BIGWAIT.
# kernel_unlock_one: drop one hold; the lock is free when the count reaches 0.
# kernel_lock_release_all / kernel_lock_reacquire: for mi_switch only (IF=0):
#     drop every hold of the current LWP (remembered in L_BIGSAVED), and take
#     the same depth back after the switch (sched.S: without the scheduler's
#     lock).
# With bigstat_on (a scenario's measurement, on the APIC path), each CPU
# adds the virtual time from taking the lock (the count 0 -> 1) to freeing
# it (1 -> 0) to its C_BIGHOLD (vclock, apic.S).
# The LWP's depth is L_BIGLOCKS; kernel_lock_word+KL_COUNT is the owning
# CPU's total.  All keep every register and IF.
        .include "kernel.inc"

        .equ BIGWAIT_INSNS, 10           # the instructions of one wait iteration

        .text
kernel_lock:
        pushf
        cli
        push eax
        push ecx
        push ebx
        CURLWP ebx
        CURCPU ecx
        cmp [kernel_lock_word + KL_CPU], ecx
        je 2f                            # this CPU holds it already
        xor eax, eax                     # free -> ours
        lock cmpxchg [kernel_lock_word + KL_CPU], ecx
        jz 3f
1:      push dword ptr [esp + 12]        # a wait iteration (BIGWAIT_INSNS), with
        popf                             # the caller's IF: its clock still ticks
        pause
        cli
        inc dword ptr gs:[C_BIGWAIT]
        mov gs:[C_BIGWANTED], ebx        # (again: a nested handler may have cleared it)
        CURCPU ecx                       # (the LWP may have moved meanwhile)
        xor eax, eax
        lock cmpxchg [kernel_lock_word + KL_CPU], ecx
        jnz 1b
        mov dword ptr gs:[C_BIGWANTED], 0
3:      call bigstat_start
2:      inc dword ptr [kernel_lock_word + KL_COUNT]
        inc dword ptr [ebx + L_BIGLOCKS]
        mov ecx, [ebx + L_BIGLOCKS]
obs_biglock_acquire:                     # EBX = LWP, ECX = its depth now
        pop ebx
        pop ecx
        pop eax
        popf
        ret

kernel_unlock_one:
        pushf
        cli
        push ecx
        push ebx
        CURLWP ebx
        dec dword ptr [ebx + L_BIGLOCKS]
        mov ecx, [ebx + L_BIGLOCKS]
obs_biglock_release:                     # EBX = LWP, ECX = its depth now
        dec dword ptr [kernel_lock_word + KL_COUNT]
        jnz 1f
        call bigstat_stop
        mov dword ptr [kernel_lock_word + KL_CPU], 0
1:      pop ebx
        pop ecx
        popf
        ret

kernel_lock_release_all:
        push ecx
        push ebx
        CURLWP ebx
        mov ecx, [ebx + L_BIGLOCKS]
        mov [ebx + L_BIGSAVED], ecx
        test ecx, ecx
        jz 1f
        sub [kernel_lock_word + KL_COUNT], ecx
        mov dword ptr [ebx + L_BIGLOCKS], 0
        xor ecx, ecx
obs_biglock_release_all:                 # EBX = LWP, ECX = 0 (its depth now)
        cmp dword ptr [kernel_lock_word + KL_COUNT], 0
        jne 1f
        call bigstat_stop
        mov dword ptr [kernel_lock_word + KL_CPU], 0
1:      pop ebx
        pop ecx
        ret

kernel_lock_reacquire:
        push ecx
        push ebx
        CURLWP ebx
        mov ecx, [ebx + L_BIGSAVED]
        mov dword ptr [ebx + L_BIGSAVED], 0
        test ecx, ecx
        jz 2f
1:      call kernel_lock
        loop 1b
2:      pop ebx
        pop ecx
        ret

# bigstat_start / bigstat_stop: IF=0, the big lock just taken / about to be
# freed by this CPU: its hold time into C_BIGHOLD.  Keep every register.
bigstat_start:
        cmp dword ptr [bigstat_on], 0
        je 1f
        push eax
        call vclock
        mov gs:[C_BIGSTART], eax
        pop eax
1:      ret

bigstat_stop:
        cmp dword ptr [bigstat_on], 0
        je 1f
        push eax
        call vclock
        sub eax, gs:[C_BIGSTART]
        add gs:[C_BIGHOLD], eax
        pop eax
1:      ret

        .data
        .align 4
kernel_lock_word: .long 0, 0             # KL_CPU, KL_COUNT
bigstat_on:     .long 0                  # measure big-lock hold times (vclock)
