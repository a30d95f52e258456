/* trap.S -- interrupt entry stubs of the C test kernel (GNU as).
 *
 * Contract: vector N's stub pushes a zero error code when the CPU pushed
 * none, then N, then falls through to alltraps, which saves the general
 * registers (pushal) and the data segments, loads the kernel data segment
 * and calls trap(struct trapframe *) (kernel.c).  trapret restores them,
 * drops vector and error code, and irets -- to ring 3 when the frame came
 * from there (the CPU then pops the user ESP and SS too).
 */
        .macro STUB n, err=0
        .globl vector\n
vector\n:
        .if \err == 0
        pushl $0
        .endif
        pushl $\n
        jmp alltraps
        .endm

        .text
        STUB 13, 1
        STUB 14, 1
        STUB 32
        STUB 33
        STUB 128

alltraps:
        pushl %ds
        pushl %es
        pushal
        mov $0x10, %ax
        mov %ax, %ds
        mov %ax, %es
        pushl %esp
        call trap
        addl $4, %esp
        .globl trapret
trapret:
        popal
        popl %es
        popl %ds
        addl $8, %esp
        iret

        .section .note.GNU-stack, "", @progbits
