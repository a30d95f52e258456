# lib.S — what every APIC probe shares: console, GDT/IDT, LAPIC/IO APIC
# access, and AP start-up by INIT-SIPI-SIPI into a real-mode trampoline.
#
# Included at the top of each probe.  The probe defines `main` (BSP, after
# `setup`) and may set `ap_main` to a function every AP calls once it is in
# protected mode with its own stack.  Functions here preserve every register
# but those they return in, unless their comment says otherwise.
#
# Printing: only one CPU prints at a time by construction (the BSP waits on a
# flag while an AP prints), so the output order is the same on every
# emulator whatever the interleaving of the CPUs.
#
# Waiting: a CPU that waits for another halts (`wait_flag`) and is woken by
# an IPI (WAKE_VECTOR), never spins: QEMU's round-robin TCG under -icount
# only switches CPUs when one halts or its (long) time slice ends, so a
# spinning waiter would take seconds.  The BSP's LAPIC is enabled by `setup`
# (TPR 0, LINT0 masked: the probes do not use the 8259s).

        .equ DEBUGCON, 0xe9
        .equ EXIT_PORT, 0xf4
        .equ KERNEL_CS, 0x08
        .equ KERNEL_DS, 0x10

        .equ LAPIC, 0xfee00000
        .equ LAPIC_ID, LAPIC + 0x20
        .equ LAPIC_VER, LAPIC + 0x30
        .equ LAPIC_TPR, LAPIC + 0x80
        .equ LAPIC_PPR, LAPIC + 0xa0
        .equ LAPIC_EOI, LAPIC + 0xb0
        .equ LAPIC_LDR, LAPIC + 0xd0
        .equ LAPIC_DFR, LAPIC + 0xe0
        .equ LAPIC_SVR, LAPIC + 0xf0
        .equ LAPIC_ISR, LAPIC + 0x100
        .equ LAPIC_IRR, LAPIC + 0x200
        .equ LAPIC_ESR, LAPIC + 0x280
        .equ LAPIC_ICR_LO, LAPIC + 0x300
        .equ LAPIC_ICR_HI, LAPIC + 0x310
        .equ LAPIC_LVT_TIMER, LAPIC + 0x320
        .equ LAPIC_LVT_LINT0, LAPIC + 0x350
        .equ LAPIC_LVT_LINT1, LAPIC + 0x360
        .equ LAPIC_LVT_ERROR, LAPIC + 0x370
        .equ LAPIC_TIMER_ICR, LAPIC + 0x380
        .equ LAPIC_TIMER_CCR, LAPIC + 0x390
        .equ LAPIC_TIMER_DCR, LAPIC + 0x3e0

        .equ SVR_ENABLE, 0x100
        .equ SPURIOUS_VECTOR, 0xff
        .equ LVT_MASKED, 0x10000
        .equ LVT_PERIODIC, 0x20000
        .equ ICR_INIT, 0x500
        .equ ICR_STARTUP, 0x600
        .equ ICR_NMI, 0x400
        .equ ICR_LOGICAL, 0x800
        .equ ICR_ASSERT, 0x4000
        .equ ICR_BUSY, 0x1000
        .equ ICR_SELF, 0x40000
        .equ ICR_ALL, 0x80000
        .equ ICR_OTHERS, 0xc0000

        .equ IOAPIC_SEL, 0xfec00000
        .equ IOAPIC_WIN, 0xfec00010
        .equ IOAPIC_REDTBL, 0x10

        .equ PIC1_DATA, 0x21
        .equ PIC2_DATA, 0xa1

        .equ TRAMPOLINE, 0x8000      # real-mode start address: SIPI vector 0x08
        .equ SIPI_VECTOR, TRAMPOLINE >> 12
        .equ WAKE_VECTOR, 0x31       # "look at your flags again"
        .equ MAX_CPUS, 8
        .equ AP_STACK_SIZE, 4096

.macro PUTS str
        push esi
        mov esi, \str
        call puts
        pop esi
.endm

# SET_GATE vector, handler: an interrupt gate (IF cleared) in the IDT.
.macro SET_GATE vec, handler
        push eax
        push ebx
        mov eax, \handler
        mov ebx, \vec
        call set_gate
        pop ebx
        pop eax
.endm

        .text
_start:
        mov esp, bsp_stack_top
        call setup
        call main
        mov al, 0                    # main returned: success
        jmp exit

# exit: leave the emulator with status AL.
exit:
        out EXIT_PORT, al
1:      cli
        hlt
        jmp 1b

# setup: own GDT and segments, an IDT whose every gate reports an unexpected
# vector, both 8259s masked (SeaBIOS left them live on QEMU), the trampoline
# copied below 1 MiB.
setup:
        pushad
        lgdt [gdtr]
        jmp KERNEL_CS:1f
1:      mov ax, KERNEL_DS
        mov ds, ax
        mov es, ax
        mov ss, ax
        mov al, 0xff
        out PIC1_DATA, al
        out PIC2_DATA, al
        xor ebx, ebx
2:      mov eax, unexpected
        call set_gate
        inc ebx
        cmp ebx, 256
        jb 2b
        mov eax, wake_handler
        mov ebx, WAKE_VECTOR
        call set_gate
        lidt [idtr]
        call lapic_enable
        mov esi, trampoline
        mov edi, TRAMPOLINE
        mov ecx, trampoline_end - trampoline
        cld
        rep movsb
        popad
        ret

# set_gate: IDT entry EBX -> handler EAX (32-bit interrupt gate, DPL 0).
set_gate:
        push edx
        lea edx, [idt + ebx * 8]
        mov [edx], ax
        mov word ptr [edx + 2], KERNEL_CS
        mov word ptr [edx + 4], 0x8e00
        shr eax, 16
        mov [edx + 6], ax
        pop edx
        ret

wake_handler:
        mov dword ptr [LAPIC_EOI], 0
        iret

unexpected:
        PUTS msg_unexpected
        mov al, 3
        jmp exit

# puts: the NUL-terminated string at ESI to the console.
puts:
        push eax
        push esi
1:      lodsb
        test al, al
        jz 2f
        out DEBUGCON, al
        jmp 1b
2:      pop esi
        pop eax
        ret

# puthex: EAX as 8 hex digits.  puthex2: AL as 2 hex digits.
puthex:
        push ecx
        mov ecx, 8
        jmp 1f
puthex2:
        push ecx
        ror eax, 8
        mov ecx, 2
1:      push eax
        push edx
2:      rol eax, 4
        mov edx, eax
        and edx, 0xf
        push eax
        mov al, [hexdigits + edx]
        out DEBUGCON, al
        pop eax
        loop 2b
        pop edx
        pop eax
        pop ecx
        ret

# putdec: EAX (unsigned) in decimal.
putdec:
        pushad
        mov ebx, 10
        xor ecx, ecx
1:      xor edx, edx
        div ebx
        push edx
        inc ecx
        test eax, eax
        jnz 1b
2:      pop eax
        add al, '0'
        out DEBUGCON, al
        loop 2b
        popad
        ret

newline:
        push eax
        mov al, 10
        out DEBUGCON, al
        pop eax
        ret

# apic_id: EAX = this CPU's APIC ID.
apic_id:
        mov eax, [LAPIC_ID]
        shr eax, 24
        ret

# lapic_enable: software-enable this CPU's LAPIC, TPR 0, LINT0/LINT1/error masked.
lapic_enable:
        mov dword ptr [LAPIC_SVR], SVR_ENABLE | SPURIOUS_VECTOR
        mov dword ptr [LAPIC_TPR], 0
        mov dword ptr [LAPIC_LVT_LINT0], LVT_MASKED
        mov dword ptr [LAPIC_LVT_LINT1], LVT_MASKED
        mov dword ptr [LAPIC_LVT_ERROR], LVT_MASKED
        mov dword ptr [LAPIC_LVT_TIMER], LVT_MASKED
        ret

# send_ipi: ICR high = EDX (destination << 24), ICR low = EAX; waits until idle.
send_ipi:
        mov [LAPIC_ICR_HI], edx
        mov [LAPIC_ICR_LO], eax
1:      test dword ptr [LAPIC_ICR_LO], ICR_BUSY
        jnz 1b
        ret

# delay: spin ECX iterations (the SDM's waits; emulators do not need them long).
delay:
        push ecx
1:      loop 1b
        pop ecx
        ret

# wait_flag: halt (IF=1) until the byte at ESI is nonzero; the cli/sti;hlt
# pair closes the window between the test and the halt.  Leaves IF=1.
wait_flag:
1:      cli
        cmp byte ptr [esi], 0
        jne 2f
        sti
        hlt
        jmp 1b
2:      sti
        ret

# wake: IPI WAKE_VECTOR to APIC ID EAX.
wake:
        push eax
        push edx
        mov edx, eax
        shl edx, 24
        mov eax, WAKE_VECTOR
        call send_ipi
        pop edx
        pop eax
        ret

# ap_signal_done (AP, EBX = its APIC ID): set ap_done[id] and wake the BSP.
ap_signal_done:
        push eax
        mov byte ptr [ap_done + ebx], 1
        xor eax, eax
        call wake
        pop eax
        ret

# start_ap: INIT, SIPI, SIPI to APIC ID EAX; waits until that AP has run
# ap_main and set ap_done[id].  Clobbers nothing; leaves IF=1.
start_ap:
        pushad
        mov ebx, eax
        mov byte ptr [ap_done + ebx], 0
        mov edx, ebx
        shl edx, 24
        mov eax, ICR_INIT | ICR_ASSERT
        call send_ipi
        mov ecx, 1000
        call delay
        mov eax, ICR_STARTUP | SIPI_VECTOR
        call send_ipi
        mov ecx, 200
        call delay
        mov eax, ICR_STARTUP | SIPI_VECTOR
        call send_ipi
        lea esi, [ap_done + ebx]
        call wait_flag
        popad
        ret

# ap_entry32: where the trampoline lands, in protected mode with flat CS.
# Calls ap_main (EBX = APIC ID, LAPIC as INIT left it), then enables the
# LAPIC and signals the BSP, then halts for good with IF=0.  An ap_main that
# never returns must call lapic_enable and ap_signal_done itself.
ap_entry32:
        mov ax, KERNEL_DS
        mov ds, ax
        mov es, ax
        mov ss, ax
        mov eax, [LAPIC_ID]
        shr eax, 24
        mov esp, eax
        inc esp
        shl esp, 12                  # (id + 1) * AP_STACK_SIZE
        add esp, ap_stacks
        lidt [idtr]
        mov ebx, eax
        mov eax, [ap_main]
        test eax, eax
        jz 1f
        call eax
1:      call lapic_enable
        call ap_signal_done
2:      cli
        hlt
        jmp 2b

# The AP trampoline: copied to TRAMPOLINE, entered in real mode at
# CS:IP = (SIPI_VECTOR << 8):0.  Loads the GDT, sets CR0.PE and far-jumps
# to ap_entry32 (a 32-bit far jump from 16-bit code: 66 EA off32 sel16).
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
        .short KERNEL_CS
        .align 4
tramp_gdtr:
        .short gdt_end - gdt - 1
        .long gdt
trampoline_end:
        .code32

        .data
        .align 8
gdt:    .quad 0
        .quad 0x00cf9a000000ffff     # 0x08 code, flat 4 GiB
        .quad 0x00cf92000000ffff     # 0x10 data, flat 4 GiB
gdt_end:
gdtr:   .short gdt_end - gdt - 1
        .long gdt
        .align 8
idtr:   .short 256 * 8 - 1
        .long idt
ap_main: .long 0
ap_done: .fill MAX_CPUS, 1, 0
hexdigits: .ascii "0123456789abcdef"
msg_unexpected: .asciz "unexpected interrupt\n"

        .bss
        .align 16
idt:    .space 256 * 8
        .align 16
ap_stacks: .space MAX_CPUS * AP_STACK_SIZE
        .space 4096
bsp_stack_top:
