# restart.S — a fault while delivering `int n` restarts the int (SDM 6.5,
# 6.13): the fault's saved EIP is the int instruction itself, so once the
# handler has fixed the cause, iret runs the int again.
# 1. `int 0x40` whose gate is not present: #NP with error code
#    0x40*8+2 = 0x202 (EXT = 0: a software interrupt), saved EIP = the int;
#    the handler marks the gate present, and the int then reaches its handler.
# 2. `int 0x41` with ESP in a page that is not present: the first push
#    faults (#PF, error 2: a supervisor write, CR2 = ESP-4); #PF's own
#    delivery would need the same stack, so its gate is a task gate (the
#    classic use): the #PF task maps the page and irets (NT) back to the
#    main task, which runs the int again on the repaired stack.
        .include "probe.inc"
        .include "cpu.inc"
        .include "paging.inc"
        .include "task.inc"

        .equ BAD_PAGE, 0x00380000
        .equ BAD_TOP, BAD_PAGE + 0x1000

        .text
main:
        call setup_tasks
        GATE 0x40, int40_handler, ABSENT
        GATE 0x41, int41_handler, INT_GATE
        GATE 11, np_handler, INT_GATE
        call load_idt
int40_insn:
        int 0x40
        mov al, byte ptr [int40_count]
        SHOW int40_ran

        call map_low
        call paging_on
        TASK_INIT tss_b, pf_task, stack_b
        mov eax, cr3                   # a switch back to main loads CR3 from
        mov [tss_main + 0x1c], eax     # its TSS: the CPU never saves CR3 there
        mov word ptr [idt + 14 * 8 + 2], TSS_B
        mov word ptr [idt + 14 * 8 + 4], TASK_GATE
        PTE_OF BAD_PAGE
        and dword ptr [edi], ~PG_P
        invlpg [BAD_PAGE]
        mov [saved_esp], esp
        mov esp, BAD_TOP
int41_insn:
        int 0x41
        mov esp, [saved_esp]
        mov al, byte ptr [int41_count]
        SHOW int41_ran
        jmp done

np_handler:
        mov eax, [esp]
        push eax
        mov al, ah
        SAY np_error
        call hex8
        pop eax
        call hex8
        call newline
        cmp dword ptr [esp + 4], int40_insn
        sete al
        SHOW np_saved_eip_is_int
        mov word ptr [idt + 0x40 * 8 + 4], INT_GATE
        add esp, 4
        iret

int40_handler:
        inc dword ptr [int40_count]
        iret

int41_handler:
        inc dword ptr [int41_count]
        iret

pf_task:
        pop eax                        # the #PF error code
        SHOW pf_error
        mov eax, cr2
        cmp eax, BAD_TOP - 4
        sete al
        SHOW pf_cr2_is_first_push
        cmp dword ptr [tss_main + 0x20], int41_insn
        sete al
        SHOW pf_saved_eip_is_int
        PTE_OF BAD_PAGE
        or dword ptr [edi], PG_P
        invlpg [BAD_PAGE]
        iret
        jmp pf_task                    # (a next #PF would start here)

        .data
        .align 4
int40_count: .long 0
int41_count: .long 0
saved_esp:   .long 0
