# main.S — LWP 0: start the drivers, run the scenario, report, exit.
#
# main: runs as LWP "main" (PRI_KTHREAD) on its own stack, IF=0, IPL_HIGH.
# Prints the banner: the kernel's model and, when the build gave a driver
# another model or took its MPSAFE away (<NAME>_NOTE, guest_kernel/build.py),
# "drivers NAME=MODEL[,biglock] ...".  Brings up the clock, COM1 input, the
# test device and the keyboard controller, opens the IPL to IPL_NONE, then
# calls the scenario named by scenario=NAME (scenario_table in
# scenarios.S).  A scenario returns EAX = 0 for pass, or the address of a
# reason string; main prints `PASS name` or `FAIL name: reason` and exits
# through port 0xF4 with 0 or 1.
        .include "kernel.inc"

        .text
main:
        PRINT msg_banner
        mov eax, [model_names + MODEL * 4]
        PRINT eax
        call print_drivers
        PRINT msg_scenario
        PRINT scenario_name
        call newline
        call clock_start
        call com_start
        call testdev_start
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

# print_drivers: ", drivers NAME=MODEL[,biglock] ..." for drivers_noted
print_drivers:
        push ebx
        push esi
        mov ebx, drivers_noted
        cmp dword ptr [ebx], 0
        je 9f
        PRINT msg_drivers
1:      mov esi, [ebx]
        test esi, esi
        jz 9f
        PRINT msg_drv_space
        mov eax, [esi + DRV_NAME]
        PRINT eax
        PRINT msg_equals
        mov eax, [esi + DRV_MODEL]
        mov eax, [model_names + eax * 4]
        PRINT eax
        test dword ptr [esi + DRV_FLAGS], IH_MPSAFE
        jnz 2f
        PRINT msg_biglock
2:      add ebx, 4
        jmp 1b
9:      pop esi
        pop ebx
        ret

        .data
msg_banner:   .asciz "irqlab kernel, model "
msg_scenario: .asciz ", scenario "
msg_pass:     .asciz "PASS "
msg_fail:     .asciz "FAIL "
msg_colon:    .asciz ": "
msg_unknown:  .asciz "no such scenario"
msg_drivers:  .asciz ", drivers"
msg_drv_space: .asciz " "
msg_equals:   .asciz "="
msg_biglock:  .asciz ",biglock"
name_classic:  .asciz "classic"
name_ithread:  .asciz "ithread"
name_threaded: .asciz "threaded"
name_hybrid:   .asciz "hybrid"
        .align 4
model_names:                             # by MODEL_* (layout.py)
        .long name_classic, name_ithread, name_threaded, name_hybrid
drivers_noted:                           # built otherwise than the kernel's model,
.if CLOCK_NOTE                           # by line
        .long drv_clock
.endif
.if KBD_NOTE
        .long drv_kbd
.endif
.if COM_NOTE
        .long drv_com
.endif
.if TESTDEV_NOTE
        .long drv_testdev
.endif
.if RTC_NOTE
        .long drv_rtc
.endif
        .long 0
