# intr_ithread.S — the ithread and hybrid models: handlers run as interrupt
# LWPs that borrow the interrupted one.
#
# intr_ithread: entered by jmp from intr_entry (intr.S) with the pushad
# frame on the interrupted stack, EBX = line, IF=0, on the CPU that took the
# interrupt, for a line whose driver runs as ithread or hybrid (it has an
# interrupt LWP: IH_LWP).  The line is held masked and acknowledged, and
# the line's interrupt LWP borrows the interrupted LWP of this CPU
# (lwp_borrow, pin.S): the interrupted LWP is pinned, the handler runs on
# the interrupt LWP's own stack as that LWP, at the line's IPL, with IF=1.
# If the handler returns, ithread_body unmasks the line and the pinned LWP
# resumes here, no scheduler involved.  If it blocks (a mutex held by an
# LWP that is not running), mi_switch converts it into a full thread (bound
# to this CPU) and resumes the pinned LWP here at once; the line stays
# masked until the converted thread finishes the handler and unmasks it.
# The two models differ only in the driver's second half (intr_bottom,
# intr_establish.S): ithread runs it in this thread, hybrid hands it to a
# soft interrupt through the ring, so a hybrid handler never waits for a
# lock here.  Leaves through intr_return.
# Claiming the interrupt LWP from its pool (LSPOOL) and its last look at
# IH_PENDING before it goes back are both under the scheduler's lock: an
# interrupt that another CPU takes as soon as the line is unmasked either
# finds the LWP back in its pool or leaves IH_PENDING for it to see.
        .include "kernel.inc"

        .text
intr_ithread:
        call pic_hold                    # the line stays masked until done
        call pic_eoi
obs_intr_enter_ithread:                  # EBX = line
        IH_ENTRY eax, ebx
        mov edi, [eax + IH_LWP]
        call sched_lock
        mov dword ptr [eax + IH_PENDING], 1
        cmp dword ptr [edi + L_STATE], LSPOOL
        jne 1f                           # busy (blocked): it will see PENDING
        mov dword ptr [edi + L_STATE], LSONPROC   # ours now
        call sched_unlock
        mov edx, [eax + IH_IPL]
        mov esi, ithread_body
        call lwp_borrow                  # back here, pinned LWP current, IF=0
        jmp 2f
1:      call sched_unlock
2:
obs_intr_exit_ithread:                   # EBX = line
        jmp intr_return

# ithread_body: EBX = line, as the interrupt LWP, IF=1.  Runs the handler
# until no new request came meanwhile (a guard: no device can bring one, the
# line is held masked and a second request waits in the controller), then
# unmasks the line and returns to lwp_borrow with IF=0 and the scheduler's
# lock held (lwp_borrow puts the LWP back in its pool under it).
ithread_body:
        IH_ENTRY eax, ebx
        mov dword ptr [eax + IH_PENDING], 0
        call intr_call_handler
        cli
        call sched_lock
        IH_ENTRY eax, ebx
        cmp dword ptr [eax + IH_PENDING], 0
        je 1f
        call sched_unlock
        sti
        jmp ithread_body
1:
obs_ithread_done:                        # EBX = line, the interrupt LWP is current
        call intr_hybrid_done
        jc 2f                            # a hybrid line's bottom half is behind: it
        call pic_release                 # releases it (intr_establish.S); else the
2:      ret                              # handler is done: unmask
