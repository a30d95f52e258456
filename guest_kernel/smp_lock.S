# smp_lock.S — adaptive mutexes and the big lock taken from any CPU.
#
# The UP entry points (mutex.S, kernel_lock.S) find the current LWP and CPU
# through cpu0; these find them through the LAPIC ID (smp_curcpu), so an AP's
# bound LWP can contend with the BSP's LWPs for the same lock words.  Both
# kinds of entry point interoperate: the words and bits are the same.
#
# smp_mutex_enter(EBX = adaptive mutex): cmpxchg; on failure decide, once per
#     change of the owner's state (obs_smp_lock_contend): the owner is
#     LSONPROC on some CPU -> spin (pause, re-read; smp_spins counts the
#     iterations), otherwise -> block: set MUTEX_BIT_WAITERS, mark the LWP
#     LSBLOCKED and halt the CPU (IF=1) until the owner word is free.  An AP
#     has one LWP and no run queue, so "block" means its CPU sleeps until the
#     releaser's IPI (smp_kick) or its own LAPIC tick; the BSP's LWPs never
#     reach the block path here (the scenarios keep them to mutex_enter).
# smp_mutex_exit(EBX = m): owner -> 0; when the waiters bit was set, clear
#     the word and smp_kick the other CPUs.
# smp_kernel_lock / smp_kernel_unlock: one hold of the big lock by this CPU
#     (KL_CPU = its cpu_info, recursive per CPU); every spin iteration while
#     another CPU holds it adds one to smp_bigwait[APIC ID].
# smp_spin_enter / smp_spin_exit(EBX = spin mutex): from any CPU (below).
# All keep every register but EAX, and IF (the block path enables
# interrupts while it halts).
        .include "kernel.inc"

        .data                            # code too: see SMP_BLOB in kernel.inc
smp_mutex_enter:
        push ecx
        push edx
        call smp_curcpu
        mov ecx, [eax + C_CURLWP]
1:      xor eax, eax
        lock cmpxchg [ebx + MTX_OWNER], ecx
        jz 8f
        mov edx, eax
        and edx, ~3                      # EDX = owner
        xor eax, eax
        cmp dword ptr [edx + L_STATE], LSONPROC
        jne 2f
        mov eax, 1                       # running (on another CPU)
2:
obs_smp_lock_contend:                    # EBX = mutex, ECX = LWP, EDX = owner, EAX = owner running
        test eax, eax
        jz 4f
3:      pause                            # spin while that owner keeps running
        lock inc dword ptr [smp_spins]
        mov eax, [ebx + MTX_OWNER]
        test eax, eax
        jz 1b                            # free: try to take it
        and eax, ~3
        cmp eax, edx
        jne 1b                           # a new owner: decide again
        cmp dword ptr [edx + L_STATE], LSONPROC
        je 3b
        jmp 1b                           # it stopped running: decide again
4:      mov eax, [ebx + MTX_OWNER]       # block: set the waiters bit
        test eax, eax
        jz 1b                            # released meanwhile: try to take it
        mov edx, eax
        or edx, MUTEX_BIT_WAITERS
        lock cmpxchg [ebx + MTX_OWNER], edx
        jnz 1b                           # changed meanwhile: decide again
        and edx, ~3
        lock inc dword ptr [smp_blocks]
        mov dword ptr [ecx + L_STATE], LSBLOCKED
        mov [ecx + L_WAITLOCK], ebx
obs_smp_lock_block:                      # EBX = mutex, ECX = LWP, EDX = owner
        pushf
5:      cli
        cmp dword ptr [ebx + MTX_OWNER], 0
        je 6f
        sti                              # sti; hlt: the wake-up IPI cannot slip in between
        hlt
        jmp 5b
6:      popf
        mov dword ptr [ecx + L_WAITLOCK], 0
        mov dword ptr [ecx + L_STATE], LSONPROC
obs_smp_lock_unblock:                    # EBX = mutex, ECX = LWP
        jmp 1b
8:
obs_smp_lock_acquire:                    # EBX = mutex, ECX = the new owner LWP
        pop edx
        pop ecx
        ret

smp_mutex_exit:
        push ecx
        call smp_curcpu
        mov ecx, [eax + C_CURLWP]
obs_smp_lock_release:                    # EBX = mutex, ECX = the releasing LWP
        mov eax, ecx
        push edx
        xor edx, edx
        lock cmpxchg [ebx + MTX_OWNER], edx
        pop edx
        jz 1f
        mov dword ptr [ebx + MTX_OWNER], 0    # waiters: free it and wake the CPUs
        call smp_kick
1:      pop ecx
        ret

# smp_spin_enter(EBX = spin mutex), any CPU: the BSP takes the UP path
# (mutex_enter: raise to MTX_IPL, spin); an AP, which has no IPL, turns its
# interrupts off (IF is its one level: its LAPIC ticks wait) and spins, with
# its EFLAGS kept in MTX_OLDIPL.  smp_spin_exit: free it, restore.
smp_spin_enter:
        call smp_curcpu
        cmp eax, cpu0
        je mutex_enter
        pushf
        cli
        push ecx
        mov ecx, [eax + C_CURLWP]
1:      xor eax, eax
        lock cmpxchg [ebx + MTX_OWNER], ecx
        jz 2f
obs_smp_spin_wait:                       # EBX = mutex, ECX = LWP, EAX = the owner word
        pause                            # (each iteration: the observer says it once)
        jmp 1b
2:
obs_smp_spin_acquire:                    # EBX = mutex, ECX = the new owner LWP (IF=0)
        pop ecx
        pop dword ptr [ebx + MTX_OLDIPL] # the AP's EFLAGS before
        ret

smp_spin_exit:
        call smp_curcpu
        cmp eax, cpu0
        je mutex_exit
obs_smp_spin_release:                    # EBX = mutex (the owner word not yet cleared)
        push dword ptr [ebx + MTX_OLDIPL]
        mov dword ptr [ebx + MTX_OWNER], 0
        popf                             # IF back on after the word is free
        ret

smp_kernel_lock:
        pushf
        cli
        push ecx
        push edx
        push ebx
        call smp_curcpu
        mov ecx, eax                     # ECX = this CPU's cpu_info
        mov ebx, [ecx + C_CURLWP]
        mov edx, [ecx + C_ID]
        cmp [kernel_lock_word + KL_CPU], ecx
        je 2f                            # this CPU holds it already
1:      xor eax, eax                     # a wait iteration is these 6 instructions
        lock cmpxchg [kernel_lock_word + KL_CPU], ecx   # (scen_smp.S BIGWAIT_INSNS)
        jz 2f
        inc dword ptr [smp_bigwait + edx*4]
        pause
        jmp 1b
2:      inc dword ptr [kernel_lock_word + KL_COUNT]
        inc dword ptr [ebx + L_BIGLOCKS]
        mov ecx, [ebx + L_BIGLOCKS]
obs_smp_biglock_acquire:                 # EBX = LWP, ECX = its depth now, EDX = CPU id
        pop ebx
        pop edx
        pop ecx
        popf
        ret

smp_kernel_unlock:
        pushf
        cli
        push ecx
        push ebx
        call smp_curcpu
        mov ebx, [eax + C_CURLWP]
        dec dword ptr [ebx + L_BIGLOCKS]
        mov ecx, [ebx + L_BIGLOCKS]
obs_smp_biglock_release:                 # EBX = LWP, ECX = its depth now
        dec dword ptr [kernel_lock_word + KL_COUNT]
        jnz 1f
        mov dword ptr [kernel_lock_word + KL_CPU], 0
1:      pop ebx
        pop ecx
        popf
        ret

        .bss
        .align 4
smp_spins:   .space 4                    # adaptive spin iterations, all CPUs
smp_blocks:  .space 4                    # adaptive blocks, all CPUs
smp_bigwait: .space 8 * 4                # big-lock spin iterations per APIC ID
