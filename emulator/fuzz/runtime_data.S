# runtime_data.S -- the fuzz runtime's GDT, IDT, log and stacks
# (emulator/fuzz/runtime.py says what each GDT descriptor is for).
        .data
        .align 8
gdt:    .quad 0
        .quad 0x00cf9a000000ffff
        .quad 0x00cf92000000ffff
        .quad 0x00cf12000000ffff
        .quad 0x00cf90000000ffff
        .quad 0x00cf98000000ffff
gdt_end:
gdtr:   .short gdt_end - gdt - 1
        .long gdt
        .align 8
idtr:   .short 256 * 8 - 1
        .long idt
hexdigits: .ascii "0123456789abcdef"
msg_log:   .asciz "log:"
msg_unexpected: .asciz "unexpected "
msg_rtc_periodic: .asciz "rtc periodic "
msg_pmt_ok: .asciz "pm timer ok"
msg_fw:    .asciz "fw"
msg_dma:   .asciz "dma "
        .align 4
resume:  .long 0
log_n:   .long 0
ap_fn:   .long 0
scratch: .long 0, 0, 0, 0, 0, 0, 0, 0
ap_done: .fill 8, 1, 0
        .align 4
ap_work: .fill 8, 4, 0
        .bss
        .align 16
idt:     .space 256 * 8
counts:  .space 256 * 4
log_vec: .space LOG_MAX * 4
log_err: .space LOG_MAX * 4
log_if:  .space LOG_MAX * 4
buffer:  .space 256
ap_stacks: .space 9 * 4096
        .space 8192
bsp_stack_top:
