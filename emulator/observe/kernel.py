"""What irqlab's kernel is doing: its ``obs_`` labels and exported structures.

Contract
--------
The kernel marks each event it wants seen with a label ``obs_<event>`` at a
point where registers hold the event's arguments, and exports as assembler
constants the structure offsets the observer needs (one source, shared with
the kernel).  ``KernelModel.detect(view, symbols)`` is a model when the
image has at least one ``obs_`` label, else None — then every kernel rule is
off and nothing kernel-specific is hooked, so any other multiboot program
runs unchanged.

``LABELS`` maps each label to the trace kind and how to read each field
(the *register convention*); ``CONST`` names the exported constants.  Both
are tables, so following a change in guest_kernel/OBSERVE.md is a change to
a table entry.  Field readers:

    ("lwp", REG)     name of the LWP whose struct address is in REG
    ("lock", REG)    the lock's name: the data symbol at the address in REG
                     (``sc_lock``), else its hex address
    ("owner", REG)   name of the owner recorded in the mutex at REG
    ("running", REG) whether that owner is on a CPU now
    ("int", REG)     the register's value
    ("sym", REG)     the code symbol at the address in REG (a cross-call's function)
    ("str", REG)     the NUL-terminated string at the address in REG (a driver's name)
    ("cur",)         the LWP current on this CPU (per-CPU data)

LWP names: ``lwp N`` (N the LWP's id), ``ithread N`` for an interrupt LWP,
``idle cpuN`` for an idle LWP, ``ap cpuN`` for the one LWP bound to
application processor N (SMP).  Stacks: each LWP's stack (base and size
from its struct), each CPU's interrupt stack ``intr cpuN``, ``boot``, and
each AP's stack ``ap cpuN`` (known from the image's geometry before the AP
runs: its one ESP load comes before it fills in its LWP).

Several CPUs, lines through the IO APIC (smp_intr.S): a line's vector is
``LINE_CLASS_BASE + IPL*16 + line``, so ``line_of_vector`` gives the line of
an external interrupt the PICs' bases do not explain; and at
``obs_smp_tpr`` (after ``smp_linemask`` — the lines in effect masked,
``imask[IPL] | held`` — is written) each line whose bit changed is a
``pic.mask`` / ``pic.unmask`` event with ``via="ioapic"``, the IMR's events
on one CPU, so the line rules read the same events either way.

Several CPUs: "cur" and the IPL are read from the acting CPU's own per-CPU
data (``cpu0`` for the BSP, ``smp_cpus + N*C_SIZE`` for AP N); an LWP is
running when it is some CPU's current LWP (on an AP, also in state
LSONPROC: an AP that blocks on a mutex keeps its LWP current while halted).
"""

from __future__ import annotations

from typing import Optional

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
    "cpu_heldmask": "C_HELDMASK",
    "cpu_intrstack_lo": "C_INTRSTACK_LO",
    "cpu_intrstack_hi": "C_INTRSTACK_HI",
    "state_blocked": "LSBLOCKED",
    "ap_stack_size": "AP_STACK_SIZE",   # SMP: each AP's stack in ap_stacks
    "max_cpus": "MAX_CPUS",
    "line_class_base": "LINE_CLASS_BASE",   # SMP: a line's vector via the IO APIC
    "kl_cpu": "KL_CPU",             # the big lock's owning per-CPU struct (or 0)
}
DATA = {"lwp_table": "lwp_table", "cpu_info": "cpu0", "softint_table": "softint_table",
        "boot_stack": "boot_stack", "boot_stack_top": "boot_stack_top",
        # SMP (guest_kernel/OBSERVE.md "SMP"): AP k's cpu_info, bound LWP, stack
        "smp_cpus": "smp_cpus", "smp_lwps": "smp_lwps", "ap_stacks": "ap_stacks",
        "smp_linemask": "smp_linemask", "kernel_lock_word": "kernel_lock_word"}

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
    "obs_idle": ("cpu.idle", {}),
    # a driver's work for one interrupt is finished, after any bottom half,
    # at the same point in every model (intr_establish.S work_done)
    "obs_work_done": ("work.done", {"line": ("int", "ebx"), "driver": ("str", "eax"),
                                    "by": ("cur",)}),
    # SMP: the same events from any CPU (smp.S, smp_lock.S)
    "obs_cpu_up": ("cpu.up", {"apic": ("int", "ebx"), "lwp": ("lwp", "edi")}),
    "obs_idle_ap": ("cpu.idle", {}),
    "obs_ipi_send": ("ipi.send", {"to": ("shr", "edx", 24), "vector": ("low8", "eax"),
                                  "by": ("cur",)}),
    "obs_smp_lock_contend": _lock("lock.contend", owner=("lwp", "edx"),
                                  owner_running=("bool", "eax"), kind=("kind", "ebx"),
                                  by=("lwp", "ecx")),
    "obs_smp_lock_block": _lock("lock.block", owner=("lwp", "edx"),
                                owner_running=("running", "edx"), kind=("kind", "ebx"),
                                by=("lwp", "ecx"), ipl=("ipl",)),
    # the AP saw the word free and retries: it woke itself (no waker is told)
    "obs_smp_lock_unblock": _lock("lock.wakeup", lwp=("lwp", "ecx"), owner=("owner", "ebx"),
                                  owner_running=("ownerrun", "ebx"), by=("lwp", "ecx")),
    "obs_smp_lock_acquire": _lock("lock.acquire", owner=("lwp", "ecx"), owner_running=("true",),
                                  kind=("kind", "ebx"), by=("lwp", "ecx")),
    "obs_smp_lock_release": _lock("lock.release", owner=("owner", "ebx"),
                                  owner_running=("true",), kind=("kind", "ebx"),
                                  by=("lwp", "ecx")),
    "obs_smp_spin_acquire": _lock("lock.acquire", owner=("lwp", "ecx"), owner_running=("true",),
                                  kind=("kind", "ebx"), by=("lwp", "ecx")),
    "obs_smp_spin_release": _lock("lock.release", owner=("owner", "ebx"),
                                  owner_running=("true",), kind=("kind", "ebx"), by=("cur",)),
    "obs_smp_biglock_acquire": ("biglock.acquire", {"depth": ("int", "ecx"),
                                                    "lwp": ("lwp", "ebx")}),
    "obs_smp_biglock_release": ("biglock.release", {"depth": ("int", "ecx"),
                                                    "lwp": ("lwp", "ebx")}),
    # cross-calls and reschedule IPIs (smp_xcall.S)
    "obs_xcall_send": ("ipi.send", {"to": ("shr", "edx", 24), "vector": ("low8", "eax"),
                                    "func": ("sym", "ebx"), "by": ("cur",)}),
    "obs_xcall_run": ("xcall.run", {"func": ("sym", "edx"), "arg": ("int", "eax"),
                                    "by": ("cur",)}),
    "obs_resched_ipi": ("ipi.resched", {"wchan": ("int", "eax"), "by": ("cur",)}),
    # per-AP work queues (smp_wq.S): an idle AP takes an item from another's queue
    "obs_wq_steal": ("wq.steal", {"victim": ("int", "edx"), "by": ("cur",)}),
}
# acquisitions (EBX = mutex, ECX = the new owner): after the lock.acquire the
# mutex's owner word is checked, and a word that does not name the new owner
# (a waiter that assumed a hand-off, a lost cmpxchg) is a ``lock.mismatch``
# (lock, by, word = whom the word names, None when it is free) for the
# mutex-owner rule; correct kernels never emit one.  ``_on_acquire`` reads
# the fields their LABELS entries name by hand (two register reads instead
# of read_fields' five: the hottest label, ~12% of a checked soak run)
ACQUIRES = ("obs_lock_acquire", "obs_smp_lock_acquire", "obs_smp_spin_acquire")

# contention labels whose register says the waiter spins (the owner runs on
# another CPU): a ``lock.spin`` with the same fields follows the
# ``lock.contend`` when it is non-zero
SPINS = {"obs_lock_contend": "eax", "obs_smp_lock_contend": "eax"}
# kernel entry points hooked as well (not obs_ labels, but named by the same
# file): every wakeup() call, heard by a sleeper or not (the lost wake-up)
ENTRIES = {
    "wakeup_locked": ("wchan.wakeup", {"wchan": ("int", "eax"), "by": ("cur",)}),
}
# entry points whose event depends on the state they find (KernelModel methods):
# ``cpu.ipl`` (ipl) when pic_apply finds the CPU's IPL changed since the last
# one said (every spl change goes through it: splraise, set_ipl — also from
# cpu_switchto and a borrow); ``biglock.contend`` (lwp) when kernel_lock /
# smp_kernel_lock finds the big lock held by another CPU (it will spin; the
# wait ends at its biglock.acquire)
WATCHED = {"pic_apply": "_on_pic_apply", "kernel_lock": "_on_kernel_lock",
           "smp_kernel_lock": "_on_kernel_lock"}
# stack kinds of ``stack.usage`` (at the end of a run) by owner name
STACK_KINDS = (("lwp ", "lwp"), ("idle ", "lwp"), ("softint ", "lwp"), ("ithread ", "ithread"),
               ("intr ", "intr"), ("ap ", "ap"), ("boot", "boot"))


class KernelModel:
    PREFIX = "obs_"

    def __init__(self, view, symbols, labels: dict) -> None:
        self.view = view
        self.symbols = symbols
        self.labels = labels            # label -> address present in this image
        self.c = {k: symbols.const(v) for k, v in CONST.items()}
        self.d = {k: symbols.addr(v) for k, v in DATA.items()}
        self.ipl_off = self.c["cpu_ipl"]
        self.sink = None
        # the APs' bound LWPs, [smp_lwps, + MAX_CPUS * L_SIZE): empty on UP images
        lwps, n, size = self.d["smp_lwps"], self.c["max_cpus"], self.c["lwp_size"]
        self._ap_lo = lwps if lwps is not None and n and size else 0
        self._ap_hi = self._ap_lo + n * size if self._ap_lo else 0
        self._smp_cpus = self.d["smp_cpus"]
        self._linemask = 0xFFFF         # the 8259s are masked whole before lines go via the IO APIC
        self._ipl: dict = {}            # cpu -> the IPL its last cpu.ipl said

    @classmethod
    def detect(cls, view, symbols) -> Optional["KernelModel"]:
        if not symbols:
            return None
        names = []
        table = symbols.table
        if hasattr(table, "names"):
            names = [n for n in table.names() if n.startswith(cls.PREFIX)]
        present = {n: symbols.addr(n) for n in names}
        if present:
            for n in list(ENTRIES) + list(WATCHED):
                present[n] = symbols.addr(n)
        present = {n: a for n, a in present.items() if a is not None}
        if not present:
            return None
        return cls(view, symbols, present)

    # ---------------------------------------------------------------- names
    def lwp_name(self, ptr: int) -> Optional[str]:
        if not ptr:
            return None
        c = self.c
        if self._ap_lo <= ptr < self._ap_hi:
            return f"ap cpu{(ptr - self._ap_lo) // c['lwp_size']}"
        lid = self.view.read_u32(ptr + c["lwp_id"]) if c["lwp_id"] is not None else None
        if lid is None:
            return f"lwp@{ptr:#x}"
        flags = self.view.read_u32(ptr + c["lwp_flags"]) if c["lwp_flags"] is not None else 0
        flags = flags or 0
        if c["flag_idle"] and flags & c["flag_idle"]:
            return f"idle cpu{self._idle_cpu(ptr)}"
        if flags & ((c["flag_ithread"] or 0) | (c["flag_irqthread"] or 0)):
            return f"ithread {lid}"
        if c["flag_softint"] and flags & c["flag_softint"]:
            # fast soft interrupts borrow exactly as interrupt LWPs do
            return f"ithread {lid}" if c["softint_fast"] else f"softint {lid}"
        return f"lwp {lid}"

    def _idle_cpu(self, ptr: int) -> int:
        # the CPU whose idle LWP it is (it need not be running: at a switch
        # away from it, cur is already the next LWP)
        off = self.c["cpu_idlelwp"]
        for cpu in range(self.view.ncpus()):
            b = self.cpu_base(cpu)
            if off is not None and b is not None and self._u32(b + off) == ptr:
                return cpu
        for cpu in range(self.view.ncpus()):
            if self.cpu_lwp(cpu) == ptr:
                return cpu
        return 0

    def cpu_base(self, cpu: int) -> Optional[int]:
        if cpu and self._smp_cpus is not None:
            return self._smp_cpus + cpu * (self.c["cpu_size"] or 0)
        base, size = self.d["cpu_info"], self.c["cpu_size"]
        if base is None:
            return None
        return base + cpu * (size or 0)

    def cpu_lwp(self, cpu: int) -> Optional[int]:
        b = self.cpu_base(cpu)
        off = self.c["cpu_curlwp"]
        return self.view.read_u32(b + off) if b is not None and off is not None else None

    def lock_name(self, addr: int) -> str:
        s = self.symbols.symbolize(addr)
        if s and "+" not in s:
            return s
        off = self.c["mtx_name"]
        ptr = self.view.read_u32(addr + off) if off is not None else None
        text = self.view.mem_read(ptr, 32) if ptr else None
        if text:
            name = text.split(b"\0", 1)[0].decode("ascii", "replace")
            if name:
                return name
        return s or f"lock@{addr:#x}"

    def lock_kind(self, addr: int) -> Optional[str]:
        off = self.c["mtx_kind"]
        v = self.view.read_u32(addr + off) if off is not None else None
        if v is None:
            return None
        return "spin" if v == self.c["mutex_spin"] else "adaptive"

    def mutex_owner(self, addr: int) -> Optional[int]:
        off = self.c["mtx_owner"]
        if off is None:
            return None
        v = self.view.read_u32(addr + off)
        bit = self.c["mtx_waiters_bit"] or 0
        return v & ~bit if v is not None else None

    def running(self, lwp_ptr: Optional[int]) -> bool:
        if not lwp_ptr:
            return False
        for c in range(self.view.ncpus()):
            if self.cpu_lwp(c) == lwp_ptr:
                if c == 0:
                    return True
                off, st = self.c["lwp_state"], self.c["state_running"]
                return off is None or st is None or self._u32(lwp_ptr + off) == st
        return False

    # ----------------------------------------------------------------- stacks
    def add_static_stacks(self, stacks) -> None:
        lo, hi = self.d["boot_stack"], self.d["boot_stack_top"]
        if lo is not None and hi is not None:
            stacks.add(lo, hi, "boot")
        self._scan_cpus(stacks)
        self._scan_lwps(stacks)
        base, size = self.d["ap_stacks"], self.c["ap_stack_size"]
        if base is not None and size:
            for cpu in range(1, self.view.ncpus()):
                stacks.add(base + cpu * size, base + (cpu + 1) * size, f"ap cpu{cpu}")

    def _scan_cpus(self, stacks) -> bool:
        lo_off, hi_off = self.c["cpu_intrstack_lo"], self.c["cpu_intrstack_hi"]
        found = False
        if lo_off is None or hi_off is None:
            return False
        for cpu in range(self.view.ncpus()):
            b = self.cpu_base(cpu)
            if b is None:
                continue
            lo, hi = self.view.read_u32(b + lo_off), self.view.read_u32(b + hi_off)
            name = f"intr cpu{cpu}"
            if lo and hi and hi > lo and stacks.region(name) != (lo, hi):
                stacks.add(lo, hi, name)
                found = True
        return found

    def _scan_lwps(self, stacks) -> bool:
        table, n, size = self.d["lwp_table"], self.c["nlwp"], self.c["lwp_size"]
        lo_off, hi_off = self.c["lwp_stack_lo"], self.c["lwp_stack_hi"]
        if table is None or not n or not size or lo_off is None or hi_off is None:
            return False
        found = False
        for i in range(n):
            ptr = table + i * size
            lo, hi = self.view.read_u32(ptr + lo_off), self.view.read_u32(ptr + hi_off)
            if not lo or not hi or hi <= lo:
                continue
            name = self.lwp_name(ptr)
            if stacks.region(name) != (lo, hi):
                stacks.add(lo, hi, name)
                found = True
        return found

    def resolve_stack(self, esp: int) -> bool:
        """On a miss, reread the LWP table (an LWP may have been created)."""
        st = getattr(self, "_stacks", None)
        if st is None:
            return False
        a = self._scan_cpus(st)
        return self._scan_lwps(st) or a

    # ------------------------------------------------------------------ hooks
    def install(self, observer, sink) -> None:
        self.sink = sink
        self._stacks = observer.stacks
        for label, addr in sorted(self.labels.items(), key=lambda x: x[1]):
            if label in WATCHED:
                observer.view.add_exec_hook(addr, observer.guard(addr, getattr(self, WATCHED[label])))
                continue
            spec = LABELS.get(label) or ENTRIES.get(label)
            if spec is None:
                continue
            hook = self._on_acquire if label in ACQUIRES else self._hook(spec, SPINS.get(label))
            observer.view.add_exec_hook(addr, observer.guard(addr, hook))
        addr = self.labels.get("obs_smp_tpr")
        if addr is not None and self.d["smp_linemask"] is not None:
            observer.view.add_exec_hook(addr, observer.guard(addr, self._on_linemask))
        if self.c["line_class_base"] is not None:
            observer.kernel_line = self.line_of_vector

    def _on_acquire(self, machine, cpu) -> None:
        cpu = self.view.cpu_index(cpu)
        m = self.view.reg(cpu, "ebx")
        new = self.view.reg(cpu, "ecx")
        who = self.lwp_name(new)
        lock = self.lock_name(m)
        self.sink.emit("lock.acquire", cpu, lock=lock, owner=who, owner_running=True,
                       kind=self.lock_kind(m), by=who)
        word = self.mutex_owner(m)
        if word is not None and word != new:
            self.sink.emit("lock.mismatch", cpu, lock=lock, by=who,
                           word=self.lwp_name(word) if word else None)

    def _on_pic_apply(self, machine, cpu) -> None:
        cpu = self.view.cpu_index(cpu)
        b = self.cpu_base(cpu)
        ipl = self._u32(b + self.ipl_off) if b is not None and self.ipl_off is not None else None
        if ipl is not None and self._ipl.get(cpu) != ipl:
            self._ipl[cpu] = ipl
            self.sink.emit("cpu.ipl", cpu, ipl=ipl)

    def _on_kernel_lock(self, machine, cpu) -> None:
        cpu = self.view.cpu_index(cpu)
        word, off = self.d["kernel_lock_word"], self.c["kl_cpu"]
        holder = self._u32(word + off) if word is not None and off is not None else None
        if holder and holder != self.cpu_base(cpu):
            self.sink.emit("biglock.contend", cpu, lwp=self.lwp_name(self.cpu_lwp(cpu) or 0))

    def stack_usage(self, stacks) -> list:
        """[(owner, kind, size, used)] of every known stack: ``used`` is how
        far down from its top it was ever written (the lowest non-zero byte,
        as Linux's stack_not_used reads a zero-filled stack)."""
        self._scan_cpus(stacks)
        self._scan_lwps(stacks)
        out = []
        for name in stacks.names():
            kind = next((k for prefix, k in STACK_KINDS if name.startswith(prefix)), None)
            lo, hi = stacks.region(name)
            data = self.view.mem_read(lo, hi - lo) if kind and hi > lo else None
            if data is None:
                continue
            untouched = len(data) - len(data.lstrip(b"\0"))
            out.append((name, kind, hi - lo, hi - lo - untouched))
        return out

    def line_of_vector(self, vector: int) -> Optional[int]:
        """The line of a vector routed through the IO APIC (or the BSP's
        LAPIC timer, line 0's vector), else None."""
        base = self.c["line_class_base"]
        if base is None or not base <= vector < base + 128:
            return None
        return (vector - base) & 15

    def _on_linemask(self, machine, cpu) -> None:
        cpu = self.view.cpu_index(cpu)
        mask = (self._u32(self.d["smp_linemask"]) or 0) & 0xFFFF
        changed, self._linemask = mask ^ self._linemask, mask
        line = 0
        while changed:
            if changed & 1:
                self.sink.emit("pic.mask" if mask >> line & 1 else "pic.unmask", cpu,
                               line=line, via="ioapic")
            changed >>= 1
            line += 1

    def _hook(self, spec, spins: Optional[str] = None):
        kind, fields = spec

        def on_label(machine, cpu):
            cpu = self.view.cpu_index(cpu)
            self.sink.emit(kind, cpu, **self.read_fields(cpu, fields))

        def on_contend(machine, cpu):
            cpu = self.view.cpu_index(cpu)
            got = self.read_fields(cpu, fields)
            self.sink.emit(kind, cpu, **got)
            if self.view.reg(cpu, spins):
                self.sink.emit("lock.spin", cpu, **got)
        return on_contend if spins else on_label

    def _u32(self, addr):
        return self.view.read_u32(addr) if addr is not None else None

    def _cstr(self, ptr) -> Optional[str]:
        data = self.view.mem_read(ptr, 32) if ptr else None
        if not data:
            return None
        return data.split(b"\0", 1)[0].decode("ascii", "replace") or None

    def softint_name(self, ptr: int) -> str:
        off = self.c["si_name"]
        name = self._cstr(self._u32(ptr + off)) if off is not None and ptr else None
        if name:
            return name
        base, size = self.d["softint_table"], self.c["si_size"]
        if base is not None and size and ptr >= base:
            return f"softint {(ptr - base) // size}"
        return f"softint@{ptr:#x}"

    def read_fields(self, cpu: int, fields: dict) -> dict:
        out = {}
        for name, (how, *arg) in fields.items():
            if how == "const":
                out[name] = arg[0]
                continue
            reg = arg[0] if arg else None
            val = self.view.reg(cpu, reg) if reg else None
            if how == "int":
                out[name] = val
            elif how == "bool":
                out[name] = bool(val)
            elif how == "shr":
                out[name] = val >> arg[1]
            elif how == "low8":
                out[name] = val & 0xFF
            elif how == "sym":
                out[name] = self.symbols.symbolize(val) or f"{val:#x}"
            elif how == "str":
                out[name] = self._cstr(val)
            elif how == "lwp":
                out[name] = self.lwp_name(val)
            elif how == "lock":
                out[name] = self.lock_name(val)
            elif how == "field":
                off = self.c[arg[1]]
                out[name] = self._u32(val + off) if off is not None and val else None
            elif how == "linefield":
                # NO_LINE: a fast soft-interrupt LWP, which borrows but holds no line
                off = self.c[arg[1]]
                v = self._u32(val + off) if off is not None and val else None
                out[name] = None if v is None or v == self.c["no_line"] else v
            elif how == "lockat":
                off = self.c[arg[1]]
                ptr = self._u32(val + off) if off is not None and val else None
                out[name] = self.lock_name(ptr) if ptr else None
            elif how == "owner":
                out[name] = self.lwp_name(self.mutex_owner(val) or 0)
            elif how == "ownerrun":
                out[name] = self.running(self.mutex_owner(val))
            elif how == "running":
                out[name] = self.running(val)
            elif how == "cur":
                out[name] = self.lwp_name(self.cpu_lwp(cpu) or 0)
            elif how == "true":
                out[name] = True
            elif how == "kind":
                out[name] = self.lock_kind(val)
            elif how == "softint":
                out[name] = self.softint_name(val)
            elif how == "heldbit":
                b, off = self.cpu_base(cpu), self.c["cpu_heldmask"]
                mask = self._u32(b + off) if b is not None and off is not None else None
                out[name] = None if mask is None else (mask >> val) & 1
            elif how == "ipl":
                b = self.cpu_base(cpu)
                if b is not None and self.ipl_off is not None:
                    out[name] = self._u32(b + self.ipl_off)
        return out

    def guard(self, owner: str) -> Optional[tuple]:
        """(lo, hi) of the red zone below an LWP's stack, if the kernel has one."""
        size = self.c["stack_guard"]
        region = self._stacks.region(owner) if getattr(self, "_stacks", None) else None
        # (an AP's stack has no red zone: below it is the next AP's stack)
        if not size or region is None or not owner.startswith(("lwp ", "ithread ", "softint ",
                                                               "idle ")):
            return None
        return (region[0] - size, region[0])
