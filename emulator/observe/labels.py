"""The observer's tables of irqlab's kernel: exported constants, data
symbols and ``obs_`` labels (guest_kernel/OBSERVE.md in table form).

Contract
--------
``CONST`` names the exported constants (structure offsets, flags, table
geometry) by the observer's key; ``DATA`` the data symbols; ``LABELS`` maps
each ``obs_`` label to its trace kind and how to read each field there (the
register convention; the readers are in emulator/observe/kernel.py);
``ENTRIES`` kernel entry points hooked the same way.  ``ACQUIRES``,
``SPINS``, ``SPIN_WAITS`` and ``SPIN_ENDS`` say which labels get special
hooks, ``SWITCH_FRAME`` the size of an LWP's saved switch frame.  Following
a change in OBSERVE.md is a change to an entry here.
"""

from __future__ import annotations

# exported constants (structure offsets, flags, table geometry)
CONST = {
    "lwp_id": "L_ID",               # offset of the LWP id in struct lwp
    "lwp_flags": "L_FLAGS",         # offset of its flags word
    "lwp_stack_lo": "L_STACK_LO",   # offsets: bounds of its kernel stack
    "lwp_stack_hi": "L_STACK_HI",
    "lwp_state": "L_STATE",
    "lwp_line": "L_LINE",
    "no_line": "NO_LINE",
    "lwp_waitlock": "L_WAITLOCK",
    "lwp_wchan": "L_WCHAN",
    "lwp_sp": "L_SP",               # saved ESP while switched out (or pinned)
    "lwp_borrowed": "L_BORROWED",   # an interrupt LWP: the LWP it borrows, or 0
    "lwp_bigsaved": "L_BIGSAVED",
    "softint_fast": "SOFTINT_FAST",
    "si_name": "SI_NAME",
    "si_size": "SI_SIZE",
    "stack_guard": "STACK_GUARD",
    "lwp_size": "L_SIZE",           # sizeof(struct lwp)
    "nlwp": "NLWP",                 # LWP slots in lwp_table
    "flag_ithread": "LF_ITHREAD",
    "flag_irqthread": "LF_IRQTHREAD",
    "flag_softint": "LF_SOFTINT",
    "flag_idle": "LF_IDLE",
    "state_running": "LSONPROC",
    "mtx_owner": "MTX_OWNER",       # offset of the owner word in a mutex
    "mtx_kind": "MTX_KIND",
    "mtx_name": "MTX_NAME",
    "mtx_waiters_bit": "MUTEX_BIT_WAITERS",
    "mutex_spin": "MUTEX_SPIN",
    "cpu_size": "C_SIZE",
    "cpu_curlwp": "C_CURLWP",
    "cpu_idlelwp": "C_IDLELWP",
    "cpu_ipl": "C_IPL",
    "cpu_intrstack_lo": "C_INTRSTACK_LO",
    "cpu_intrstack_hi": "C_INTRSTACK_HI",
    "state_blocked": "LSBLOCKED",
    "max_cpus": "MAX_CPUS",
    "line_class_base": "LINE_CLASS_BASE",   # SMP: a line's vector via the IO APIC
    "kl_cpu": "KL_CPU",             # the big lock's owning per-CPU struct (or 0)
}
DATA = {"lwp_table": "lwp_table", "cpu_info": "cpu0", "softint_table": "softint_table",
        "boot_stack": "boot_stack", "boot_stack_top": "boot_stack_top",
        "intr_held": "intr_held", "kernel_lock_word": "kernel_lock_word"}

# obs_ label -> (trace kind, {field: reader}), after guest_kernel/OBSERVE.md
def _lock(ev_kind, /, **extra):
    return (ev_kind, dict({"lock": ("lock", "ebx")}, **extra))


LABELS = {
    "obs_lwp_switch": ("lwp.switch", {"from": ("lwp", "esi"), "to": ("lwp", "edi")}),
    "obs_pin": ("lwp.pin", {"lwp": ("lwp", "eax"), "by": ("lwp", "edi")}),
    "obs_unpin_return": ("lwp.unpin", {"lwp": ("lwp", "eax"), "by": ("lwp", "edi"),
                                       "how": ("const", "return")}),
    "obs_ithread_block": ("ithread.block", {"ithread": ("lwp", "esi"),
                                            "line": ("linefield", "esi", "lwp_line"),
                                            "lock": ("lockat", "esi", "lwp_waitlock"),
                                            "lwp": ("lwp", "edi")}),
    "obs_unpin": ("lwp.unpin", {"lwp": ("lwp", "edi"), "by": ("lwp", "esi"),
                                "how": ("const", "block")}),
    "obs_ithread_done": ("ithread.done", {"ithread": ("cur",), "line": ("int", "ebx")}),
    "obs_ithread_done_threaded": ("ithread.done", {"ithread": ("cur",), "line": ("int", "ebx")}),
    "obs_ithread_pool": ("ithread.pool", {"ithread": ("lwp", "edi")}),
    "obs_intr_enter": ("handler.enter", {"line": ("int", "ebx"), "by": ("cur",),
                                         "path": ("const", "intr")}),
    "obs_intr_exit": ("handler.exit", {"line": ("int", "ebx"), "by": ("cur",),
                                       "path": ("const", "intr")}),
    "obs_intr_enter_ithread": ("handler.enter", {"line": ("int", "ebx"), "by": ("cur",),
                                                 "path": ("const", "ithread")}),
    "obs_intr_exit_ithread": ("handler.exit", {"line": ("int", "ebx"), "by": ("cur",),
                                               "path": ("const", "ithread")}),
    "obs_intr_enter_threaded": ("handler.enter", {"line": ("int", "ebx"), "by": ("cur",),
                                                  "path": ("const", "threaded")}),
    "obs_intr_exit_threaded": ("handler.exit", {"line": ("int", "ebx"), "by": ("cur",),
                                                "path": ("const", "threaded")}),
    "obs_pic_hold": ("pic.hold", {"line": ("int", "ebx")}),
    "obs_pic_release": ("pic.release", {"line": ("int", "ebx"), "held": ("heldbit", "ebx")}),
    "obs_lock_acquire": _lock("lock.acquire", owner=("lwp", "ecx"), owner_running=("true",),
                              kind=("kind", "ebx"), by=("lwp", "ecx")),
    "obs_lock_contend": _lock("lock.contend", owner=("lwp", "edx"),
                              owner_running=("bool", "eax"), kind=("kind", "ebx"),
                              by=("lwp", "ecx")),
    "obs_lock_block": _lock("lock.block", owner=("lwp", "edx"),
                            owner_running=("running", "edx"), kind=("kind", "ebx"),
                            by=("lwp", "ecx"), ipl=("ipl",)),
    "obs_lock_wakeup": _lock("lock.wakeup", lwp=("lwp", "eax"), owner=("owner", "ebx"),
                             owner_running=("ownerrun", "ebx"), by=("cur",)),
    "obs_lock_release": _lock("lock.release", owner=("owner", "ebx"),
                              owner_running=("true",), kind=("kind", "ebx"),
                              by=("lwp", "ecx")),
    "obs_biglock_acquire": ("biglock.acquire", {"depth": ("int", "ecx"), "lwp": ("lwp", "ebx")}),
    "obs_biglock_release": ("biglock.release", {"depth": ("int", "ecx"), "lwp": ("lwp", "ebx")}),
    "obs_biglock_release_all": ("biglock.release", {"depth": ("int", "ecx"),
                                                    "lwp": ("lwp", "ebx"),
                                                    "saved": ("field", "ebx", "lwp_bigsaved")}),
    "obs_softint_schedule": ("softint.schedule", {"softint": ("softint", "ebx"), "by": ("cur",)}),
    "obs_softint_run": ("softint.run", {"softint": ("softint", "ebx"), "by": ("cur",)}),
    "obs_sleep": ("lwp.sleep", {"lwp": ("lwp", "ebx"), "wchan": ("int", "eax"), "ipl": ("ipl",)}),
    "obs_wakeup": ("lwp.wakeup", {"lwp": ("lwp", "eax"), "wchan": ("int", "ecx"), "by": ("cur",)}),
    # sleepq_tick: a timed sleep is over (the clock's tick, in interrupt context)
    "obs_wakeup_timeout": ("lwp.wakeup", {"lwp": ("lwp", "eax"), "by": ("cur",),
                                          "wchan": ("field", "eax", "lwp_wchan"),
                                          "how": ("const", "timeout")}),
    # spin waits: a spin mutex's owner word taken (EAX = the word); said once
    # per wait (SPIN_WAITS)
    "obs_spin_wait": _lock("lock.spin", owner=("lwpword", "eax"),
                           owner_running=("runword", "eax"), kind=("kind", "ebx"),
                           by=("lwp", "ecx")),
    "obs_idle": ("cpu.idle", {}),
    # a driver's work for one interrupt is finished, after any bottom half,
    # at the same point in every model (intr_establish.S work_done)
    "obs_work_done": ("work.done", {"line": ("int", "ebx"), "driver": ("str", "eax"),
                                    "by": ("cur",)}),
    # several CPUs (smp.S, sched.S, apic.S, smp_xcall.S)
    "obs_cpu_up": ("cpu.up", {"apic": ("int", "ebx"), "lwp": ("lwp", "edi")}),
    "obs_lwp_migrate": ("lwp.migrate", {"lwp": ("lwp", "edi"),
                                        "from_cpu": ("cpuof", "esi"),
                                        "to_cpu": ("cpuidx",)}),
    "obs_resched_ipi": ("ipi.resched", {"to": ("int", "edx"), "lwp": ("lwp", "eax"),
                                        "by": ("cur",)}),
    "obs_xcall_send": ("ipi.send", {"to": ("shr", "edx", 24), "vector": ("low8", "eax"),
                                    "func": ("sym", "ebx"), "by": ("cur",)}),
    "obs_xcall_run": ("xcall.run", {"func": ("sym", "edx"), "arg": ("int", "eax"),
                                    "by": ("cur",)}),
}
# acquisitions (EBX = mutex, ECX = the new owner): after the lock.acquire the
# mutex's owner word is checked, and a word that does not name the new owner
# (a waiter that assumed a hand-off, a lost cmpxchg) is a ``lock.mismatch``
# (lock, by, word = whom the word names, None when it is free) for the
# mutex-owner rule; correct kernels never emit one.  ``_on_acquire`` reads
# the fields their LABELS entries name by hand (two register reads instead
# of read_fields' five: the hottest label, ~12% of a checked soak run)
ACQUIRES = ("obs_lock_acquire",)

# contention labels whose register says the waiter spins (the owner runs on
# another CPU): a ``lock.spin`` with the same fields follows the
# ``lock.contend`` when it is non-zero
SPINS = {"obs_lock_contend": "eax"}
# the switch frame at an LWP's saved ESP: the four callee-saved registers
# cpu_switchto and lwp_borrow push (switch.S, pin.S), under the return address
SWITCH_FRAME = 16
# labels inside a spin loop (hit at every iteration): a CPU says it spins once,
# until it acquires, blocks or switches (SPIN_ENDS); the contention labels
# above are in loops too on the one-CPU path, and are said once the same way
SPIN_WAITS = ("obs_spin_wait",)
SPIN_ENDS = ("obs_lock_acquire", "obs_biglock_acquire", "obs_lock_block", "obs_lwp_switch")
# kernel entry points hooked as well (not obs_ labels, but named by the same
# file): every wakeup() call, heard by a sleeper or not (the lost wake-up)
ENTRIES = {
    "wakeup_locked": ("wchan.wakeup", {"wchan": ("int", "eax"), "by": ("cur",)}),
}
# entry points whose event depends on the state they find (KernelModel methods):
# ``cpu.ipl`` (ipl) when pic_apply finds the CPU's IPL changed since the last
# one said (every spl change goes through it: splraise, set_ipl — also from
# cpu_switchto and a borrow); ``biglock.contend`` (lwp) when kernel_lock
# finds the big lock held by another CPU (it will spin; the wait ends at its
# biglock.acquire)
WATCHED = {"pic_apply": "_on_pic_apply", "kernel_lock": "_on_kernel_lock"}
# stack kinds of ``stack.usage`` (at the end of a run) by owner name
STACK_KINDS = (("lwp ", "lwp"), ("idle ", "lwp"), ("softint ", "lwp"), ("ithread ", "ithread"),
               ("intr ", "intr"), ("boot", "boot"))
