# runtime.S -- the frame of every fuzz program (emulator/fuzz/runtime.py
# says what it does; it puts the stub block before `common` and defines
# CAP, LOG_MAX and NCPUS).  Not assembled on its own.
        .equ DEBUGCON, 0xe9
        .equ EXIT_PORT, 0xf4
        .equ LAPIC, 0xfee00000
        .equ LAPIC_ID, LAPIC + 0x20
        .equ LAPIC_TPR, LAPIC + 0x80
        .equ LAPIC_EOI, LAPIC + 0xb0
        .equ LAPIC_SVR, LAPIC + 0xf0
        .equ LAPIC_ISR, LAPIC + 0x100
        .equ LAPIC_TMR, LAPIC + 0x180
        .equ LAPIC_IRR, LAPIC + 0x200
        .equ LAPIC_ICR_LO, LAPIC + 0x300
        .equ LAPIC_ICR_HI, LAPIC + 0x310
        .equ LAPIC_LVT_TIMER, LAPIC + 0x320
        .equ LAPIC_LVT_LINT0, LAPIC + 0x350
        .equ LAPIC_LVT_LINT1, LAPIC + 0x360
        .equ LAPIC_LVT_ERROR, LAPIC + 0x370
        .equ LAPIC_TIMER_ICR, LAPIC + 0x380
        .equ LAPIC_TIMER_CCR, LAPIC + 0x390
        .equ LAPIC_TIMER_DCR, LAPIC + 0x3e0
        .equ IOAPIC_SEL, 0xfec00000
        .equ IOAPIC_WIN, 0xfec00010
        .equ HPET, 0xfed00000
        .equ TRAMPOLINE, 0x8000
        .equ WAKE_VECTOR, 0xf0

        .text
_start:
        mov esp, bsp_stack_top
        lgdt [gdtr]
        jmp 0x08:1f
1:      mov ax, 0x10
        mov ds, ax
        mov es, ax
        mov fs, ax
        mov gs, ax
        mov ss, ax
        call build_idt
        lidt [idtr]
        call quiet_devices
        call main
finish:
        cli
        call flush
        xor al, al
        out EXIT_PORT, al
1:      hlt
        jmp 1b

# build_idt: every vector to its stub (interrupt gates, DPL 0).
build_idt:
        xor ebx, ebx
1:      mov eax, ebx
        shl eax, 4
        add eax, stubs
        lea edx, [idt + ebx * 8]
        mov [edx], ax
        mov word ptr [edx + 2], 0x08
        mov word ptr [edx + 4], 0x8e00
        shr eax, 16
        mov [edx + 6], ax
        inc ebx
        cmp ebx, 256
        jb 1b
        ret

quiet_devices:
        mov al, 0x30                  # PIT counter 0: mode 0, count 1 (OUT rises once)
        out 0x43, al
        mov al, 1
        out 0x40, al
        xor al, al
        out 0x40, al
        xor al, al                    # counter 2 gated off, speaker off
        out 0x61, al
        mov ecx, 5000
2:      loop 2b
        call quiet_kbc                # before the 8259s forget the edges it makes
        mov dx, 0x4d0                 # every 8259 line edge-triggered
        out dx, al
        mov dx, 0x4d1
        out dx, al
        mov al, 0x11                  # both 8259s: ICW1-4, then all masked
        out 0x20, al
        out 0xa0, al
        mov al, 0x20
        out 0x21, al
        mov al, 0x28
        out 0xa1, al
        mov al, 0x04
        out 0x21, al
        mov al, 0x02
        out 0xa1, al
        mov al, 0x01
        out 0x21, al
        out 0xa1, al
        mov al, 0xff
        out 0x21, al
        out 0xa1, al
        call lapic_setup
        xor ecx, ecx                  # IO APIC: every entry masked, vector 0x30 + pin
3:      lea eax, [0x10 + ecx * 2 + 1]
        mov [IOAPIC_SEL], eax
        mov dword ptr [IOAPIC_WIN], 0
        dec eax
        mov [IOAPIC_SEL], eax
        lea edx, [ecx + 0x10030]
        mov [IOAPIC_WIN], edx
        inc ecx
        cmp ecx, 24
        jb 3b
        mov al, 0x0a                  # RTC: A, B, then C read
        out 0x70, al
        mov al, 0x26
        out 0x71, al
        mov al, 0x0b
        out 0x70, al
        mov al, 0x02
        out 0x71, al
        mov al, 0x0c
        out 0x70, al
        in al, 0x71
        mov dx, 0x3f9                 # COM1: IER 0, loopback, 8N1, FIFOs off, drained
        xor al, al
        out dx, al
        mov dx, 0x3fc
        mov al, 0x18
        out dx, al
        mov dx, 0x3fb
        mov al, 0x03
        out dx, al
        mov dx, 0x3fa
        xor al, al
        out dx, al
        mov dx, 0x3f8
        in al, dx
        in al, dx
        mov dword ptr [HPET + 0x10], 0          # HPET halted, timers off, status clear
        mov dword ptr [HPET + 0x100], 0
        mov dword ptr [HPET + 0x120], 0
        mov dword ptr [HPET + 0x140], 0
        mov dword ptr [HPET + 0x20], 7
        mov dword ptr [HPET + 0xf0], 0
        mov dword ptr [HPET + 0xf4], 0
        mov dx, 0x602                 # PM1_EN 0, PM1_STS cleared, GPE0_EN 0
        xor eax, eax
        out dx, ax
        mov dx, 0x600
        mov ax, 0xffff
        out dx, ax
        mov dx, 0xafe2
        xor al, al
        out dx, al
        mov dx, 0xafe3
        out dx, al
        ret

# quiet_kbc: the i8042's output buffer drained, command byte 0x03 (both
# interrupts on, no translation), and the last byte read 0x00 (port 0x60
# reads the last byte again when empty: after SeaBIOS it would be its ACK).
quiet_kbc:
        mov ecx, 4
1:      in al, 0x60
        loop 1b
        mov al, 0xaa                  # self-test: the status's system flag set, as
        out 0x64, al                  # SeaBIOS leaves it; 0x55 comes back
        in al, 0x60
        mov al, 0x60
        out 0x64, al
        mov al, 0x03
        out 0x60, al
        mov al, 0xd2
        out 0x64, al
        xor al, al
        out 0x60, al
        in al, 0x60
        ret

# lapic_setup: this CPU's LAPIC enabled, TPR 0, LINT0 ExtINT, the rest masked.
lapic_setup:
        mov dword ptr [LAPIC_SVR], 0x1ff
        mov dword ptr [LAPIC_TPR], 0
        mov dword ptr [LAPIC_LVT_TIMER], 0x10000
        mov dword ptr [LAPIC_TIMER_ICR], 0
        mov dword ptr [LAPIC_LVT_LINT1], 0x10000
        mov dword ptr [LAPIC_LVT_ERROR], 0x10000
        mov dword ptr [LAPIC_LVT_LINT0], 0x700
        ret

# common: every vector lands here with [esp] = vector, [esp+4] = error code.
common:
        pushad
        mov eax, [esp + 32]
        cmp eax, WAKE_VECTOR          # the SMP runtime's own wake-up: not logged
        je 2f
        mov ebx, [esp + 36]
        pushfd                        # IF in the handler: 0 through an interrupt gate
        pop edx
        mov ecx, [log_n]
        cmp ecx, LOG_MAX
        jae 1f
        mov [log_vec + ecx * 4], eax
        mov [log_err + ecx * 4], ebx
        shr edx, 9
        and edx, 1
        mov [log_if + ecx * 4], edx
        inc dword ptr [log_n]
1:      inc dword ptr [counts + eax * 4]
        cmp eax, 2                    # NMI: no EOI, nothing to resume
        je done
        cmp eax, 32
        jb exception
        cmp eax, 0x30
        jb pic_vector
        cmp eax, 0xff
        je done
        cmp dword ptr [counts + eax * 4], CAP
        jbe 2f
        call silence
2:      mov dword ptr [LAPIC_EOI], 0
done:   popad
        add esp, 8
        iret
pic_vector:
        cmp dword ptr [counts + eax * 4], CAP
        jbe 3f
        call silence
3:      cmp eax, 0x28
        jb 4f
        mov al, 0x20
        out 0xa0, al
4:      mov al, 0x20
        out 0x20, al
        jmp done
exception:
        mov ecx, [resume]
        test ecx, ecx
        jz unexpected
        mov dword ptr [resume], 0
        mov [esp + 40], ecx           # the saved EIP: go on after the faulting op
        jmp done
unexpected:
        mov esi, msg_unexpected
        call say
        call putdec
        call newline
        mov al, 3
        out EXIT_PORT, al
1:      cli
        hlt
        jmp 1b

# silence: mask whatever delivers vector EAX (a source past CAP interrupts).
silence:
        push eax
        push ecx
        cmp eax, 0x30
        jae 1f
        mov ecx, eax                  # an 8259 line
        sub ecx, 0x20
        in al, 0x21
        mov ah, al
        in al, 0xa1
        xchg al, ah
        bts eax, ecx
        out 0x21, al
        xchg al, ah
        out 0xa1, al
        jmp 9f
1:      cmp eax, 0x48
        jae 2f
        lea ecx, [eax - 0x30]         # an IO APIC pin
        lea ecx, [0x10 + ecx * 2]
        mov [IOAPIC_SEL], ecx
        or dword ptr [IOAPIC_WIN], 0x10000
        jmp 9f
2:      or dword ptr [LAPIC_LVT_TIMER], 0x10000   # the LAPIC's own sources
        or dword ptr [LAPIC_LVT_LINT0], 0x10000
9:      pop ecx
        pop eax
        ret

# flush: print the log and empty it (keeps every register).
flush:
        pushad
        mov esi, msg_log
        call say
        xor ebx, ebx
1:      cmp ebx, [log_n]
        jae 2f
        call space
        mov eax, [log_vec + ebx * 4]
        call puthex2
        mov al, '/'
        out DEBUGCON, al
        mov eax, [log_err + ebx * 4]
        call puthex
        mov al, '/'
        out DEBUGCON, al
        mov eax, [log_if + ebx * 4]
        call putdec
        inc ebx
        jmp 1b
2:      call newline
        mov dword ptr [log_n], 0
        popad
        ret

# window: interrupts enabled for ECX iterations of `nop; loop` (2 ECX
# instructions).  Not a bare `1: loop 1b`: QEMU 7.2 under -icount delivers
# only the first timer interrupt while a CPU spins in a one-instruction loop
# to itself (measured with the PIT through the 8259 and the IO APIC, and
# with the LAPIC timer; irqlab delivers every one).
window:
        push ecx
        sti
1:      nop
        loop 1b
        cli
        pop ecx
        ret

say:
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

space:
        push eax
        mov al, ' '
        out DEBUGCON, al
        pop eax
        ret
