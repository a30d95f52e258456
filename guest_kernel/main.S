# main.S — LWP 0: start the drivers, run the scenario, report, exit.
#
# main: runs as LWP "main" (PRI_KTHREAD) on its own stack, IF=0, IPL_HIGH.
# Brings up the clock, COM1 input, the test device and the keyboard
# controller, opens the IPL to IPL_NONE, then calls the scenario named by
# scenario=NAME (scenario_table in scenarios.S).  A scenario returns EAX = 0 for pass, or the address of
# a reason string; main prints `PASS name` or `FAIL name: reason` and exits
# through port 0xF4 with 0 or 1.
        .include "kernel.inc"

        .text
main:
        PRINT msg_banner
        PRINT model_name
        PRINT msg_scenario
        PRINT scenario_name
        call newline
        call clock_start
        call com_start
        mov esi, IH_MPSAFE
        call testdev_start
        mov esi, IH_MPSAFE
        call kbd_start
        mov eax, IPL_NONE
        call splx                        # every established line opens
        sti
main_lookup:                             # smp_dispatch comes back here after smp:NAME
        mov esi, scenario_table          # find the scenario by name
1:      mov edi, [esi]
        test edi, edi
        jz 5f
        push esi
        mov esi, scenario_name
2:      mov al, [esi]
        cmp al, [edi]
        jne 3f
        test al, al
        jz 4f
        inc esi
        inc edi
        jmp 2b
3:      pop esi
        add esi, 8
        jmp 1b
4:      pop esi
        call [esi + 4]                   # the scenario; EAX = 0 or a reason
        test eax, eax
        jnz 6f
main_pass:                               # smp_dispatch (scen_smp.S) comes back here
        PRINT msg_pass
        PRINT scenario_name
        call newline
        xor al, al
        jmp kernel_exit
5:      jmp smp_dispatch                 # not a UP scenario: an SMP one? (scen_smp.S)
main_fail:                               # EAX = reason
6:      PRINT msg_fail
        PRINT scenario_name
        PRINT msg_colon
        PRINT eax
        call newline
        mov al, 1
        jmp kernel_exit

        .data
msg_banner:   .asciz "irqlab kernel, model "
msg_scenario: .asciz ", scenario "
msg_pass:     .asciz "PASS "
msg_fail:     .asciz "FAIL "
msg_colon:    .asciz ": "
msg_unknown:  .asciz "no such scenario"
.if MODEL == MODEL_CLASSIC
model_name:   .asciz "classic"
.elif MODEL == MODEL_ITHREAD
model_name:   .asciz "ithread"
.else
model_name:   .asciz "threaded"
.endif
