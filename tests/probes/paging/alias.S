# alias.S — a kernel running at its 0xC0000000 alias (issue 19, rows 1-2):
# the low 4 MiB are mapped at 0 and again at 0xC0000000; the probe jumps to
# its alias, loads the IDT through the alias and takes three PIT interrupts
# whose gate points into the alias too, so each delivery reads the IDT and
# runs the handler through the page tables.
        .include "probe.inc"
        .include "cpu.inc"
        .include "paging.inc"

        .text
main:
        call map_low
        call paging_on
        mov eax, in_high + KERNEL_ALIAS
        jmp eax
in_high:
        call here
here:
        pop eax
        cmp eax, KERNEL_ALIAS
        setae al
        SHOW running_high
        GATE 0x20, tick_handler + KERNEL_ALIAS, INT_GATE
        lidt [idtr_high]
        mov al, 0x34                   # counter 0, mode 2, 1193 counts: 1 ms
        out PIT_CTRL, al
        mov al, 0xa9
        out PIT_CH0, al
        mov al, 0x04
        out PIT_CH0, al
        mov al, 0xfe
        out PIC1_DATA, al
        sti
wait_ticks:
        hlt                            # to the next tick (a busy wait: 3 M instructions)
        cmp dword ptr [ticks], 3
        jb wait_ticks
        cli
        mov al, byte ptr [ticks]
        SHOW ticks
        mov al, byte ptr [high_eip]
        SHOW handler_high
        jmp done

tick_handler:
        push eax
        call tick_here
tick_here:
        pop eax
        cmp eax, KERNEL_ALIAS
        setae byte ptr [high_eip]
        mov al, 0x20
        out PIC1_CMD, al
        inc dword ptr [ticks]
        pop eax
        iret

        .data
        .align 8
idtr_high: .short IDT_N * 8 - 1
        .long idt + KERNEL_ALIAS
ticks:    .long 0
high_eip: .long 0
