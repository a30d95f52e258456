# task.S — hardware task switches (SDM 7.3, table 7-2).
# 1. #DF through a task gate: a #GP whose gate is not present becomes #NP,
#    then #DF, which switches to task b: error code 0 on b's stack, b's back
#    link = the main TSS, NT set in b, both TSSs busy, the main TSS's saved
#    EIP = the faulting instruction; b's iret (NT) returns to main and frees b.
# 2. jmp to a TSS: the new task is busy, the old one not, no back link, NT
#    stays clear; a jmp back resumes main after its jmp.
# 3. call to a TSS: back link = main, NT set, main stays busy; iret returns.
        .include "probe.inc"
        .include "cpu.inc"
        .include "task.inc"

        .text
main:
        call setup_tasks
        TASK_INIT tss_b, df_task, stack_b
        mov word ptr [idt + 8 * 8 + 2], TSS_B      # gate 8: task gate to b
        mov word ptr [idt + 8 * 8 + 4], TASK_GATE
        mov word ptr [idt + 13 * 8 + 4], ABSENT    # #GP's gate not present
        call load_idt
        mov ax, 0x0803
fault_insn:
        mov ds, ax                     # #GP -> #NP -> #DF -> task b
back_in_main:
        str ax
        SHOW main_tr
        TSS_BUSY TSS_B
        SHOW b_busy_after_iret
        SHOW_NT main_nt

        TASK_INIT tss_c, jmp_task, stack_c
        .byte 0xea                     # jmp 0x38:0
        .long 0
        .short TSS_C
after_jmp:
        SAY back_after_jmp
        call newline
        TSS_BUSY TSS_C
        SHOW c_busy_after_jmp_back

        TASK_INIT tss_c, call_task, stack_c
        mov word ptr [tss_c], 0
        .byte 0x9a                     # call 0x38:0
        .long 0
        .short TSS_C
        SAY back_after_call
        call newline
        TSS_BUSY TSS_C
        SHOW c_busy_after_iret
        jmp done

df_task:
        pop eax                        # the #DF error code
        SHOW df_error
        str ax
        SHOW df_tr
        mov ax, word ptr [tss_b]
        SHOW b_backlink
        SHOW_NT b_nt
        TSS_BUSY TSS_MAIN
        SHOW main_busy
        TSS_BUSY TSS_B
        SHOW b_busy
        cmp dword ptr [tss_main + 0x20], fault_insn
        sete al
        SHOW saved_eip_is_fault
        mov dword ptr [tss_main + 0x20], back_in_main
        iret                           # NT: back to main
        jmp done

jmp_task:
        str ax
        SHOW jmp_tr
        mov ax, word ptr [tss_c]
        SHOW c_backlink
        SHOW_NT c_nt
        TSS_BUSY TSS_MAIN
        SHOW main_busy_after_jmp
        TSS_BUSY TSS_C
        SHOW c_busy
        .byte 0xea                     # jmp 0x28:0 (back to main, after its jmp)
        .long 0
        .short TSS_MAIN

call_task:
        mov ax, word ptr [tss_c]
        SHOW call_backlink
        SHOW_NT call_nt
        TSS_BUSY TSS_MAIN
        SHOW main_busy_in_call
        iret
