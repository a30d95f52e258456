# idle.S — each CPU's idle LWP: halt until something is runnable.
#
# idle_loop: the entry of a CPU's LWP "idle" (PRI_IDLE, LF_IDLE, bound to its
# CPU), which is never on a run queue: sched_pick falls back to it when there
# is nothing to run or to steal.  With IF=0 and the scheduler's lock it looks
# for work (sched_find: its own queues, then an LWP it may take from the
# busiest other CPU); if there is some it switches (leaving itself LSRUN, off
# the queues), else it lets the lock go and halts with `sti; hlt` — a
# wake-up that comes between the check and the hlt is an interrupt (a
# reschedule IPI from the CPU that queued the work, or the CPU's own clock),
# and it cannot slip in before the hlt, because sti takes effect only after
# the next instruction.  Every interrupt that ends the halt looks again.
# An AP enters here straight from its start-up (smp.S), its IPL already set.
        .include "kernel.inc"

        .text
idle_loop:
        cli
        mov eax, IPL_NONE
        call set_ipl
1:      call sched_lock
        call sched_find                  # EDI = work for this CPU, or 0
        test edi, edi
        jnz 3f
        call sched_unlock
obs_idle:
        sti                              # sti; hlt: no interrupt slips in between
        hlt
        cli
        jmp 1b
3:      CURLWP eax
        mov dword ptr [eax + L_STATE], LSRUN   # idle waits off the queues
        call mi_switch
        call sched_unlock
        jmp 1b
