# intr_threaded.S — the threaded model (Linux's threaded IRQs, ONESHOT).
#
# intr_entry: lines above IPL_VM take the classic path (intr_hard).  For the
# others the stub masks and acknowledges the line, marks it pending and
# wakes its handler thread (priority PRI_INTR, so the return path switches
# to it at once unless the interrupted code runs at raised IPL).
# irq_thread(EAX = line): the handler thread: sleeps on its handler-table
# entry until pending, runs the handler as an ordinary thread (IPL_NONE,
# IF=1, may block), then unmasks the line.
        .include "kernel.inc"

        .text
intr_entry:
        pushad
        mov ebx, [esp + 32]
        sub ebx, IRQ_BASE
        mov eax, ebx
        shl eax, 5
        cmp dword ptr [ih_table + eax + IH_LWP], 0
        je intr_hard
        call pic_hold
        call pic_eoi
obs_intr_enter_threaded:                 # EBX = line
        mov eax, ebx
        shl eax, 5
        add eax, ih_table
        mov dword ptr [eax + IH_PENDING], 1
        call wakeup_locked               # the thread sleeps on its table entry
obs_intr_exit_threaded:                  # EBX = line
        jmp intr_return

irq_thread:
        mov ebx, eax
1:      cli
        mov eax, ebx
        shl eax, 5
        add eax, ih_table
        cmp dword ptr [eax + IH_PENDING], 0
        jne 2f
        xor edx, edx
        call sleep_on
        jmp 1b
2:      mov dword ptr [eax + IH_PENDING], 0
        sti
        call intr_call_handler
        cli
obs_ithread_done_threaded:               # EBX = line, the handler thread is current
        call pic_release                 # the handler is done: unmask
        jmp 1b
