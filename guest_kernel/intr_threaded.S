# intr_threaded.S — the threaded model (Linux's threaded IRQs, ONESHOT).
#
# intr_threaded: entered by jmp from intr_entry (intr.S) with the pushad
# frame on the interrupted stack, EBX = line, IF=0, for a line whose driver
# runs threaded (it has a handler thread: IH_LWP).  The stub masks and
# acknowledges the line, marks it pending and wakes its handler thread on
# this CPU (priority PRI_INTR, so the return path switches to it at once
# unless the interrupted code runs at raised IPL).  Leaves through
# intr_return.
# irq_thread(EAX = line): the handler thread: sleeps on its handler-table
# entry until pending, runs the handler as an ordinary thread (IPL_NONE,
# IF=1, may block), then unmasks the line.  IH_PENDING is set and tested
# under the scheduler's lock, so a request another CPU takes as soon as the
# line is unmasked is never lost.
        .include "kernel.inc"

        .text
intr_threaded:
        call pic_hold
        call pic_eoi
obs_intr_enter_threaded:                 # EBX = line
        IH_ENTRY eax, ebx
        call sched_lock
        mov dword ptr [eax + IH_PENDING], 1
        mov edx, [eax + IH_LWP]
        cmp dword ptr [edx + L_STATE], LSSLEEP
        jne 1f
        CURCPU ecx                       # asleep: it runs where the interrupt came
        mov [edx + L_CPU], ecx
1:      call wakeup_locked               # the thread sleeps on its table entry
        call sched_unlock
obs_intr_exit_threaded:                  # EBX = line
        jmp intr_return

irq_thread:
        mov ebx, eax
1:      cli
        call sched_lock
        IH_ENTRY eax, ebx
        cmp dword ptr [eax + IH_PENDING], 0
        jne 2f
        xor edx, edx
        call sleep_on
        call sched_unlock
        jmp 1b
2:      mov dword ptr [eax + IH_PENDING], 0
        call sched_unlock
.if BUG_EARLY_UNMASK
        call pic_release                 # BUG: unmasks first ("the handler is quick"):
.endif                                   # not ONESHOT, the line is open while it runs
        sti
        call intr_call_handler
        cli
obs_ithread_done_threaded:               # EBX = line, the handler thread is current
.if BUG_EARLY_UNMASK
.else
        call pic_release                 # the handler is done: unmask
.endif
        jmp 1b
