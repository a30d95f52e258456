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
    ("cur",)         the LWP current on this CPU (per-CPU data)

LWP names: ``lwp N`` (N the LWP's id), ``ithread N`` for an interrupt LWP,
``idle cpuN`` for an idle LWP.  Stacks: each LWP's stack (base and size
from its struct), each CPU's interrupt stack ``intr cpuN``, and ``boot``.
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
    "cpu_ipl": "C_IPL",
    "cpu_heldmask": "C_HELDMASK",
    "cpu_intrstack_lo": "C_INTRSTACK_LO",
    "cpu_intrstack_hi": "C_INTRSTACK_HI",
}
DATA = {"lwp_table": "lwp_table", "cpu_info": "cpu0",
        "boot_stack": "boot_stack", "boot_stack_top": "boot_stack_top"}

# obs_ label -> (trace kind, {field: reader}); extra fixed fields under "_"
LABELS = {
    "obs_lwp_switch": ("lwp.switch", {"from": ("lwp", "eax"), "to": ("lwp", "ebx")}),
    "obs_lwp_pin": ("lwp.pin", {"lwp": ("lwp", "eax"), "by": ("cur",)}),
    "obs_lwp_unpin": ("lwp.unpin", {"lwp": ("lwp", "eax"), "by": ("cur",)}),
    "obs_lwp_sleep": ("lwp.sleep", {"lwp": ("cur",), "wchan": ("int", "eax"),
                                    "ipl": ("ipl",)}),
    "obs_lwp_wakeup": ("lwp.wakeup", {"lwp": ("lwp", "eax"), "by": ("cur",)}),
    "obs_lwp_resume": ("lwp.resume", {"lwp": ("cur",), "depth": ("int", "eax")}),
    "obs_ithread_start": ("ithread.start", {"ithread": ("cur",), "line": ("int", "eax")}),
    "obs_ithread_block": ("ithread.block", {"ithread": ("cur",), "line": ("int", "eax"),
                                            "lock": ("lock", "ebx")}),
    "obs_ithread_done": ("ithread.done", {"ithread": ("cur",), "line": ("int", "eax")}),
    "obs_handler_enter": ("handler.enter", {"line": ("int", "eax"), "by": ("cur",)}),
    "obs_handler_exit": ("handler.exit", {"line": ("int", "eax"), "by": ("cur",)}),
    "obs_lock_acquire": ("lock.acquire", {"lock": ("lock", "eax"), "owner": ("cur",),
                                          "owner_running": ("true",), "kind": ("kind", "eax"),
                                          "by": ("cur",)}),
    "obs_lock_release": ("lock.release", {"lock": ("lock", "eax"), "owner": ("owner", "eax"),
                                          "owner_running": ("running", "eax"),
                                          "kind": ("kind", "eax"), "by": ("cur",)}),
    "obs_lock_contend": ("lock.contend", {"lock": ("lock", "eax"), "owner": ("owner", "eax"),
                                          "owner_running": ("running", "eax"),
                                          "kind": ("kind", "eax"), "by": ("cur",)}),
    "obs_lock_spin": ("lock.spin", {"lock": ("lock", "eax"), "owner": ("owner", "eax"),
                                    "owner_running": ("running", "eax"), "by": ("cur",)}),
    "obs_lock_block": ("lock.block", {"lock": ("lock", "eax"), "owner": ("owner", "eax"),
                                      "owner_running": ("running", "eax"), "by": ("cur",),
                                      "ipl": ("ipl",)}),
    "obs_lock_wakeup": ("lock.wakeup", {"lock": ("lock", "eax"), "lwp": ("lwp", "ebx"),
                                        "owner": ("owner", "eax"),
                                        "owner_running": ("running", "eax"), "by": ("cur",)}),
    "obs_biglock_acquire": ("biglock.acquire", {"depth": ("int", "eax"), "lwp": ("cur",)}),
    "obs_biglock_release": ("biglock.release", {"depth": ("int", "eax"), "lwp": ("cur",)}),
    "obs_softint_schedule": ("softint.schedule", {"softint": ("int", "eax"), "by": ("cur",)}),
    "obs_softint_run": ("softint.run", {"softint": ("int", "eax"), "by": ("cur",)}),
    "obs_pic_hold": ("pic.hold", {"line": ("int", "ebx")}),
    "obs_pic_release": ("pic.release", {"line": ("int", "ebx"), "held": ("heldbit", "ebx")}),
    "obs_ipl_change": ("ipl.change", {"ipl": ("int", "eax"), "by": ("cur",)}),
}


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

    @classmethod
    def detect(cls, view, symbols) -> Optional["KernelModel"]:
        if not symbols:
            return None
        names = []
        table = symbols.table
        if hasattr(table, "names"):
            names = [n for n in table.names() if n.startswith(cls.PREFIX)]
        present = {n: symbols.addr(n) for n in names}
        present = {n: a for n, a in present.items() if a is not None}
        if not present:
            return None
        return cls(view, symbols, present)

    # ---------------------------------------------------------------- names
    def lwp_name(self, ptr: int) -> Optional[str]:
        if not ptr:
            return None
        c = self.c
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
            return f"softint {lid}"
        return f"lwp {lid}"

    def _idle_cpu(self, ptr: int) -> int:
        for cpu in range(self.view.ncpus()):
            if self.cpu_lwp(cpu) == ptr:
                return cpu
        return 0

    def cpu_base(self, cpu: int) -> Optional[int]:
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
        return bool(lwp_ptr) and any(self.cpu_lwp(c) == lwp_ptr
                                     for c in range(self.view.ncpus()))

    # ----------------------------------------------------------------- stacks
    def add_static_stacks(self, stacks) -> None:
        lo, hi = self.d["boot_stack"], self.d["boot_stack_top"]
        if lo is not None and hi is not None:
            stacks.add(lo, hi, "boot")
        self._scan_cpus(stacks)
        self._scan_lwps(stacks)

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
            spec = LABELS.get(label)
            if spec is None:
                continue
            observer.view.add_exec_hook(addr, self._hook(spec))

    def _hook(self, spec):
        kind, fields = spec

        def on_label(machine, cpu):
            cpu = self.view.cpu_index(cpu)
            self.sink.emit(kind, cpu, **self.read_fields(cpu, fields))
        return on_label

    def read_fields(self, cpu: int, fields: dict) -> dict:
        out = {}
        for name, (how, *arg) in fields.items():
            reg = arg[0] if arg else None
            val = self.view.reg(cpu, reg) if reg else None
            if how == "int":
                out[name] = val
            elif how == "lwp":
                out[name] = self.lwp_name(val)
            elif how == "lock":
                out[name] = self.lock_name(val)
            elif how == "owner":
                out[name] = self.lwp_name(self.mutex_owner(val) or 0)
            elif how == "running":
                out[name] = self.running(self.mutex_owner(val))
            elif how == "cur":
                out[name] = self.lwp_name(self.cpu_lwp(cpu) or 0)
            elif how == "heldbit":
                b, off = self.cpu_base(cpu), self.c["cpu_heldmask"]
                mask = self.view.read_u32(b + off) if b is not None and off is not None else None
                out[name] = None if mask is None else (mask >> val) & 1
            elif how == "true":
                out[name] = True
            elif how == "kind":
                out[name] = self.lock_kind(val)
            elif how == "ipl":
                b = self.cpu_base(cpu)
                if b is not None and self.ipl_off is not None:
                    out[name] = self.view.read_u32(b + self.ipl_off)
        return out
