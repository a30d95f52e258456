# kernel_lock.S — the big lock: recursive, per CPU and per LWP.
#
# kernel_lock: take one hold.  If this CPU already owns it (the current LWP
#     holds it, or the LWP a borrowing interrupt LWP pinned does), only the
#     counts grow; otherwise spin with `lock cmpxchg` on KL_CPU.
# kernel_unlock_one: drop one hold; the lock is free when the CPU's count
#     reaches 0.
# kernel_lock_release_all / kernel_lock_reacquire: for mi_switch only (IF=0):
#     drop every hold of the current LWP (remembered in L_BIGSAVED), and take
#     the same depth back after the switch.
# The LWP's depth is L_BIGLOCKS; kernel_lock+KL_COUNT is the CPU's total.
# All keep every register and IF.
        .include "kernel.inc"

        .text
kernel_lock:
        pushf
        cli
        push eax
        push ecx
        push ebx
        CURLWP ebx
        mov ecx, cpu0
        cmp [kernel_lock_word + KL_CPU], ecx
        je 2f
1:      xor eax, eax                     # free -> ours
        lock cmpxchg [kernel_lock_word + KL_CPU], ecx
        jz 2f
        pause
        jmp 1b
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

        .data
        .align 4
kernel_lock_word: .long 0, 0             # KL_CPU, KL_COUNT
