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
    "lwp_id": "LWP_ID",             # offset of the LWP id in struct lwp
    "lwp_flags": "LWP_FLAGS",       # offset of its flags word
    "lwp_stack": "LWP_STACK",       # offset: lowest address of its kernel stack
    "lwp_stack_size": "LWP_STACK_SIZE",   # offset of the stack size, or
    "stack_size": "KSTACK_SIZE",    # one size for every LWP stack
    "lwp_state": "LWP_STATE",
    "lwp_size": "LWP_SIZE",         # sizeof(struct lwp)
    "nlwp": "MAXLWP",               # LWP slots in lwp_table
    "flag_ithread": "LW_ITHREAD",
    "flag_idle": "LW_IDLE",
    "state_running": "LSRUN_ONPROC",
    "mtx_owner": "MTX_OWNER",       # offset of the owner word in a mutex
    "mtx_owner_mask": "MTX_OWNER_MASK",
    "cpu_size": "CPU_INFO_SIZE",
    "cpu_curlwp": "CI_CURLWP",
    "cpu_intrstack": "CI_INTRSTACK",    # offset: top of the CPU's interrupt stack
    "intrstack_size": "INTRSTACK_SIZE",
}
DATA = {"lwp_table": "lwp_table", "cpu_info": "cpu_info",
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
                                          "owner_running": ("true",), "kind": ("kind", "ebx"),
                                          "by": ("cur",)}),
    "obs_lock_release": ("lock.release", {"lock": ("lock", "eax"), "owner": ("owner", "eax"),
                                          "owner_running": ("running", "eax"),
                                          "kind": ("kind", "ebx"), "by": ("cur",)}),
    "obs_lock_contend": ("lock.contend", {"lock": ("lock", "eax"), "owner": ("owner", "eax"),
                                          "owner_running": ("running", "eax"),
                                          "kind": ("kind", "ebx"), "by": ("cur",)}),
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
    "obs_ipl_change": ("ipl.change", {"ipl": ("int", "eax"), "by": ("cur",)}),
}
LOCK_KINDS = {0: "adaptive", 1: "spin"}
IPL_VAR = "CI_IPL"      # offset of the IPL in per-CPU data


class KernelModel:
    PREFIX = "obs_"

    def __init__(self, view, symbols, labels: dict) -> None:
        self.view = view
        self.symbols = symbols
        self.labels = labels            # label -> address present in this image
        self.c = {k: symbols.const(v) for k, v in CONST.items()}
        self.d = {k: symbols.addr(v) for k, v in DATA.items()}
        self.ipl_off = symbols.const(IPL_VAR)
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
        if c["flag_ithread"] and flags & c["flag_ithread"]:
            return f"ithread {lid}"
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
        return s if s else f"lock@{addr:#x}"

    def mutex_owner(self, addr: int) -> Optional[int]:
        off = self.c["mtx_owner"]
        if off is None:
            return None
        v = self.view.read_u32(addr + off)
        mask = self.c["mtx_owner_mask"]
        return v & mask if v is not None and mask else v

    def running(self, lwp_ptr: Optional[int]) -> bool:
        return bool(lwp_ptr) and any(self.cpu_lwp(c) == lwp_ptr
                                     for c in range(self.view.ncpus()))

    # ----------------------------------------------------------------- stacks
    def add_static_stacks(self, stacks) -> None:
        lo, hi = self.d["boot_stack"], self.d["boot_stack_top"]
        if lo is not None and hi is not None:
            stacks.add(lo, hi, "boot")
        off, size = self.c["cpu_intrstack"], self.c["intrstack_size"]
        if off is not None and size:
            for cpu in range(self.view.ncpus()):
                b = self.cpu_base(cpu)
                top = self.view.read_u32(b + off) if b is not None else None
                if top:
                    stacks.add(top - size, top, f"intr cpu{cpu}")
        self._scan_lwps(stacks)

    def _scan_lwps(self, stacks) -> bool:
        table, n, size = self.d["lwp_table"], self.c["nlwp"], self.c["lwp_size"]
        off = self.c["lwp_stack"]
        if table is None or not n or not size or off is None:
            return False
        found = False
        for i in range(n):
            ptr = table + i * size
            base = self.view.read_u32(ptr + off)
            if not base:
                continue
            ssize = (self.view.read_u32(ptr + self.c["lwp_stack_size"])
                     if self.c["lwp_stack_size"] is not None else self.c["stack_size"])
            if not ssize:
                continue
            name = self.lwp_name(ptr)
            if stacks.region(name) != (base, base + ssize):
                stacks.add(base, base + ssize, name)
                found = True
        return found

    def resolve_stack(self, esp: int) -> bool:
        """On a miss, reread the LWP table (an LWP may have been created)."""
        return self._scan_lwps(self._stacks) if getattr(self, "_stacks", None) else False

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
            elif how == "true":
                out[name] = True
            elif how == "kind":
                out[name] = LOCK_KINDS.get(val, str(val))
            elif how == "ipl":
                b = self.cpu_base(cpu)
                if b is not None and self.ipl_off is not None:
                    out[name] = self.view.read_u32(b + self.ipl_off)
        return out
