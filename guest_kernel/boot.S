# boot.S — multiboot entry and early machine setup, for every CPU count.
#
# _start: entered by the multiboot loader in 32-bit protected mode, IF=0,
# paging off, EAX = 0x2BADB002, EBX = the multiboot info.  Fills in the
# per-CPU descriptors of the GDT, loads our own GDT (flat ring-0 code and
# data, and one data segment per CPU whose base is that CPU's per-CPU data:
# GS, so gs:[C_SELF] is always the running CPU's) and the 256-gate IDT
# every CPU shares, quiets and re-initialises the PICs and the PIT
# inherited from the BIOS, brings up the console, reads the command line
# (scenario=, cpus=, route=), fills CPU 0's per-CPU data, the LWP system
# and becomes LWP 0 ("main"), which starts the drivers and, with several
# CPUs, the APs (smp.S).  Never returns.
# gdt_init: the per-CPU data descriptors KPERCPU + 8 * i (base cpu0 + i *
#     C_SIZE, limit C_SIZE - 1: a stray offset faults).  Clobbers EAX-EDX.
# idt_init: interrupt gates (IF cleared on entry): the vector stubs 0-0x2f
#     (gen/vectors.S), the lines through the IO APIC and the LAPIC timer
#     (LINE_CLASS_BASE + IPL * 16 + line -> the stub of IRQ_BASE + line),
#     the cross-call and reschedule IPIs, the LAPIC's spurious vector; any
#     other vector is unexpected.  Clobbers EAX-EDX.
# kernel_exit(AL = status): to the exit port; never returns.
        .include "kernel.inc"

        .equ MB_INFO_CMDLINE, 0x04      # multiboot info flags bit 2
        .equ MB_CMDLINE, 16             # offset of cmdline in the info
        .equ GATE_INTR32, 0x8e00        # present, DPL 0, 32-bit interrupt gate
        .equ SEG_DATA32, 0x00409200     # high word flags: present, data RW, 32-bit

        .text
_start:
        mov esp, boot_stack_top          # the boot stack, until LWP 0 exists
        mov [mb_info], ebx
        call gdt_init
        lgdt [gdtr]
        jmp KCODE:reload_cs              # far jump loads CS from our GDT
reload_cs:
        mov ax, KDATA
        mov ds, ax
        mov es, ax
        mov fs, ax
        mov ss, ax
        mov ax, KPERCPU                  # CPU 0's per-CPU data
        mov gs, ax
        call idt_init
        call pic_init                    # every line masked, vectors 0x20-0x2f
        call clock_quiet                 # the BIOS's PIT off until we want it
        call console_init
        call cmdline_parse
        xor eax, eax
        call cpu_init                    # CPU 0's per-CPU data
        call lwp_bootstrap               # this flow becomes LWP 0 on its own stack
        # from here on we run on LWP 0's stack (see lwp.S)
        jmp main

gdt_init:
        xor ecx, ecx
        mov ebx, cpu0
1:      mov eax, ebx                     # base 15..0, limit 15..0
        shl eax, 16
        or eax, C_SIZE - 1
        mov [gdt_percpu + ecx*8], eax
        mov eax, ebx                     # base 31..24 and 23..16, flags
        and eax, 0xff000000
        mov edx, ebx
        shr edx, 16
        and edx, 0xff
        or eax, edx
        or eax, SEG_DATA32
        mov [gdt_percpu + ecx*8 + 4], eax
        add ebx, C_SIZE
        inc ecx
        cmp ecx, MAX_CPUS
        jb 1b
        ret

idt_init:
        xor ebx, ebx
1:      call idt_handler                 # EAX = the handler of vector EBX
        lea edi, [idt + ebx*8]
        mov word ptr [edi], ax           # offset 15..0
        mov word ptr [edi + 2], KCODE
        mov word ptr [edi + 4], GATE_INTR32
        shr eax, 16
        mov word ptr [edi + 6], ax       # offset 31..16
        inc ebx
        cmp ebx, IDT_GATES
        jb 1b
        lidt [idtr]
        ret

# idt_handler: EBX = vector -> EAX = its handler
idt_handler:
        cmp ebx, NVECTORS
        jae 1f
        mov eax, [vector_table + ebx*4]  # exceptions, the 8259s' lines
        ret
1:      cmp ebx, LINE_CLASS_BASE
        jb 3f
        cmp ebx, LINE_CLASS_BASE + NIPL * 16
        jae 2f
        mov eax, ebx                     # a line's class vector: the line's stub
        and eax, 15
        mov eax, [vector_table + IRQ_BASE*4 + eax*4]
        ret
2:      mov eax, xcall_intr
        cmp ebx, XCALL_VECTOR
        je 4f
        mov eax, resched_intr
        cmp ebx, RESCHED_VECTOR
        je 4f
        mov eax, spurious_intr
        cmp ebx, SPURIOUS_VECTOR
        je 4f
3:      mov eax, unexpected_intr
4:      ret

# spurious_intr: the LAPIC's spurious vector gets no EOI (SDM 10.9)
spurious_intr:
        iret

unexpected_intr:
        mov esi, msg_unexpected
        jmp panic

# kernel_exit: AL = status; writes it to the exit port and stops
kernel_exit:
        cli
        out EXIT_PORT, al
1:      hlt
        jmp 1b

        .data
        .align 8
gdt:    .quad 0                          # null
        .quad 0x00cf9a000000ffff         # 0x08 code, base 0, 4 GiB, ring 0
        .quad 0x00cf92000000ffff         # 0x10 data
gdt_percpu:                              # 0x18 + 8 * cpu: its per-CPU data (gdt_init)
        .fill MAX_CPUS * 2, 4, 0
gdt_end:
gdtr:   .short gdt_end - gdt - 1
        .long gdt
idtr:   .short IDT_GATES * 8 - 1
        .long idt
mb_info: .long 0
msg_unexpected: .asciz "unexpected interrupt vector"

        .bss
        .align 16
boot_stack:
        .space BOOTSTACK_SIZE
boot_stack_top:
        .align 16
idt:    .space IDT_GATES * 8
