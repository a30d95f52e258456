# df.S — a fault while delivering a fault (SDM 6.15, table 6-5), with paging.
# A read of a not-present page (#PF) while ESP points into another
# not-present page: delivering that #PF pushes EFLAGS at ESP-4, which faults
# again (#PF while delivering #PF, a contributory pair for page faults), so
# the CPU raises #DF with error code 0, here through a task gate: task b sees
# CR2 = the failed push (ESP-4), the main TSS saved with EIP at the read and
# ESP unchanged.  Task b then makes #DF an interrupt gate and does the same
# read on the same bad stack: #PF, #PF while delivering it, and now the #DF
# delivery pushes onto the bad stack too: a fault while delivering #DF is
# a triple fault (shutdown; QEMU -no-reboot exits 0, irqlab reports status
# 126).  Nothing prints after `triple_next`.
        .include "probe.inc"
        .include "cpu.inc"
        .include "paging.inc"
        .include "task.inc"

        .equ HOLE, 0x00c00000          # PDE 3: not present
        .equ BADSTACK, 0x00801000      # PDE 2: not present

        .text
main:
        call setup_tasks
        call map_low
        call paging_on
        TASK_INIT tss_b, df_task, stack_b
        mov word ptr [idt + 8 * 8 + 2], TSS_B      # gate 8: task gate to b
        mov word ptr [idt + 8 * 8 + 4], TASK_GATE
        GATE 14, never, INT_GATE
        call load_idt
        mov esp, BADSTACK
fault_insn:
        mov eax, [HOLE]                # #PF, whose delivery faults: #DF
        jmp never

df_task:
        pop eax                        # the #DF error code
        SHOW df_error
        mov eax, cr2
        cmp eax, BADSTACK - 4
        sete al
        SHOW cr2_is_first_push
        cmp dword ptr [tss_main + 0x20], fault_insn
        sete al
        SHOW saved_eip_is_read
        cmp dword ptr [tss_main + 0x38], BADSTACK
        sete al
        SHOW saved_esp_is_bad
        GATE 8, never, INT_GATE
        SAY triple_next
        call newline
        mov esp, BADSTACK              # the same again, in task b
        mov eax, [HOLE]                # #PF, #PF: #DF, whose delivery faults
        jmp never

never:
        SAY never
        call newline
        jmp done
