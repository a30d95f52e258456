# boot.S — multiboot entry and early machine setup.
#
# _start: entered by the multiboot loader in 32-bit protected mode, IF=0,
# paging off, EAX = 0x2BADB002, EBX = the multiboot info.  Loads our own
# GDT (flat ring-0 code and data) and IDT (gates to gen/vectors.S), quiets
# and re-initialises the PICs and the PIT inherited from the BIOS, brings up
# the console, the LWP system and the drivers, then becomes LWP 0 ("main")
# and runs the scenario named on the command line.  Never returns.
        .include "kernel.inc"

        .equ MB_INFO_CMDLINE, 0x04      # multiboot info flags bit 2
        .equ MB_CMDLINE, 16             # offset of cmdline in the info

        .text
_start:
        mov esp, boot_stack_top          # the boot stack, until LWP 0 exists
        mov [mb_info], ebx
        lgdt [gdtr]
        jmp KCODE:reload_cs              # far jump loads CS from our GDT
reload_cs:
        mov ax, KDATA
        mov ds, ax
        mov es, ax
        mov fs, ax
        mov gs, ax
        mov ss, ax
        call idt_init
        call pic_init                    # every line masked, vectors 0x20-0x2f
        call clock_quiet                 # the BIOS's PIT off until we want it
        call console_init
        call cmdline_parse
        call cpu_init
        call lwp_bootstrap               # this flow becomes LWP 0 on its own stack
        # from here on we run on LWP 0's stack (see lwp.S)
        jmp main

# idt_init: interrupt gates (IF cleared on entry) for every vector stub
idt_init:
        mov edi, idt
        xor ecx, ecx
1:      mov eax, [vector_table + ecx*4]
        mov word ptr [edi], ax           # offset 15..0
        mov word ptr [edi + 2], KCODE
        mov word ptr [edi + 4], 0x8e00   # present, DPL 0, 32-bit interrupt gate
        shr eax, 16
        mov word ptr [edi + 6], ax       # offset 31..16
        add edi, 8
        inc ecx
        cmp ecx, NVECTORS
        jb 1b
        lidt [idtr]
        ret

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
gdt_end:
gdtr:   .short gdt_end - gdt - 1
        .long gdt
idtr:   .short NVECTORS * 8 - 1
        .long idt
mb_info: .long 0

        .bss
        .align 16
boot_stack:                              # smaller by the SMP blob (kernel.inc), larger
        .space BOOTSTACK_SIZE + NVECTORS * 8 - SMP_BLOB   # by the IDT (now at the end of .bss)
boot_stack_top:
