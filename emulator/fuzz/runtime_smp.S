# runtime_smp.S -- AP start-up and hand-off for fuzz programs on several
# CPUs (emulator/fuzz/runtime.py).  Not assembled on its own.
# -- several CPUs: APs started one by one, each waits for work ---------------
# ap_start: INIT-SIPI-SIPI to APIC ID EBX; waits until it is up.
ap_start:
        pushad
        mov esi, trampoline
        mov edi, TRAMPOLINE
        mov ecx, trampoline_end - trampoline
        cld
        rep movsb
        mov byte ptr [ap_done + ebx], 0
        mov edx, ebx
        shl edx, 24
        mov eax, 0x4500               # INIT, assert
        call send_ipi
        mov ecx, 1000
1:      loop 1b
        mov eax, 0x4600 | (TRAMPOLINE >> 12)
        call send_ipi
        mov ecx, 200
2:      loop 2b
        mov eax, 0x4600 | (TRAMPOLINE >> 12)
        call send_ipi
        call ap_wait
        popad
        ret

# ap_go: run [ap_fn] on AP EBX and wait for it to finish.
ap_go:
        pushad
        mov byte ptr [ap_done + ebx], 0
        mov eax, [ap_fn]
        mov [ap_work + ebx * 4], eax
        mov edx, ebx
        shl edx, 24
        mov eax, WAKE_VECTOR
        call send_ipi
        call ap_wait
        popad
        ret

# ap_wait: halt (IF=1 only around hlt) until ap_done[EBX] is set.
ap_wait:
1:      cli
        cmp byte ptr [ap_done + ebx], 0
        jne 2f
        mov dword ptr [LAPIC_TPR], 0
        sti
        hlt
        jmp 1b
2:      cli
        ret

# send_ipi: ICR high = EDX, low = EAX; waits until it is sent.
send_ipi:
        mov [LAPIC_ICR_HI], edx
        mov [LAPIC_ICR_LO], eax
1:      test dword ptr [LAPIC_ICR_LO], 0x1000
        jnz 1b
        ret

# ap_entry32: an AP in protected mode: stack, IDT, LAPIC, then serve work.
ap_entry32:
        mov ax, 0x10
        mov ds, ax
        mov es, ax
        mov ss, ax
        mov eax, [LAPIC_ID]
        shr eax, 24
        mov ebx, eax
        inc eax
        shl eax, 12
        lea esp, [ap_stacks + eax]
        lidt [idtr]
        call lapic_setup
        mov dword ptr [LAPIC_LVT_LINT0], 0x10000
ap_loop:
        mov byte ptr [ap_done + ebx], 1
        xor edx, edx                  # wake the BSP
        mov eax, WAKE_VECTOR
        call send_ipi
1:      cli
        mov eax, [ap_work + ebx * 4]
        test eax, eax
        jnz 2f
        sti
        hlt
        jmp 1b
2:      mov dword ptr [ap_work + ebx * 4], 0
        call eax
        jmp ap_loop

        .code16
trampoline:
        cli
        mov ax, cs
        mov ds, ax
        lgdt [tramp_gdtr - trampoline]
        mov eax, cr0
        or eax, 1
        mov cr0, eax
        .byte 0x66, 0xea
        .long ap_entry32
        .short 0x08
        .align 4
tramp_gdtr:
        .short gdt_end - gdt - 1
        .long gdt
trampoline_end:
        .code32
