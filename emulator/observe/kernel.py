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
are tables (emulator/observe/labels.py), so following a change in
guest_kernel/OBSERVE.md is a change to a table entry.  Field readers:

    ("lwp", REG)     name of the LWP whose struct address is in REG
    ("lock", REG)    the lock's name: the data symbol at the address in REG
                     (``sc_lock``), else its hex address
    ("owner", REG)   name of the owner recorded in the mutex at REG
    ("running", REG) whether that owner is on a CPU now
    ("int", REG)     the register's value
    ("sym", REG)     the code symbol at the address in REG (a cross-call's function)
    ("str", REG)     the NUL-terminated string at the address in REG (a driver's name)
    ("cur",)         the LWP current on this CPU (per-CPU data)
    ("cpuof", REG)   the index of the CPU whose per-CPU data is at REG
    ("cpuidx",)      the acting CPU's index
    ("lwpword", REG) the LWP a mutex owner word in REG names (its low bits off)
    ("runword", REG) whether that LWP is on a CPU now

Labels inside spin loops (``SPIN_WAITS``, and the contention labels whose
register says the waiter spins) are hit at every iteration: a CPU's wait is
said once, until that CPU acquires a lock, blocks or switches
(``SPIN_ENDS``), so a spin of a million iterations is one ``lock.spin``
event (a big-lock wait is one ``biglock.contend``, said at kernel_lock's
entry, with the LWP and CPU that hold it).

For the checkers' backtraces and reports: ``ptr_of(name)`` (an LWP's
struct), ``saved_sp(name)``, ``thread_line(name)`` (``L_LINE`` of an
interrupt or handler thread), ``current_name(cpu)``, and ``next_stack(owner,
region)``, where a stack entered from another one continues: the
interrupted ESP at the top of a per-CPU interrupt stack, the pinned LWP's
saved ESP under a borrowing interrupt LWP.

LWP names: ``lwp N`` (N the LWP's id), ``ithread N`` for an interrupt LWP,
``idle cpuN`` for the idle LWP of CPU N.  Stacks: each LWP's stack (base
and size from its struct), each CPU's interrupt stack ``intr cpuN``, and
``boot``.

Per-CPU data: CPU N's is ``cpu0 + N*C_SIZE`` (the machine's CPU index is
the APIC ID and the index); "cur" and the IPL are read from the acting
CPU's own.  An LWP is running when it is some CPU's current LWP.  Stolen
LWPs: ``lwp.migrate`` (``from_cpu`` the CPU whose queue it left, ``to_cpu``
the acting CPU).

Several CPUs, lines through the IO APIC (apic.S): a line's vector is
``LINE_CLASS_BASE + IPL*16 + line``, so ``line_of_vector`` gives the line of
an external interrupt the PICs' bases do not explain; and at
``obs_ioapic_rte`` (a redirection entry written: EDX = line, EAX = its low
word) a line whose entry's mask bit changed is a ``pic.mask`` /
``pic.unmask`` event with ``via="ioapic"`` and the entry's ``vector``, the
IMR's events on one CPU, so the line rules read the same events either
way.  The IPL masks no entry there: it is each CPU's own LAPIC TPR.
"""

from __future__ import annotations

from typing import Optional

from emulator.observe.fields import compile_reader
from emulator.observe.labels import (ACQUIRES, CONST, DATA, ENTRIES, LABELS, SPIN_ENDS,
                                     SPIN_WAITS, SPINS, STACK_KINDS, SWITCH_FRAME,
                                     WATCHED)


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
        self._emit_fields = None        # the sink's emit_fields (install)
        self.compiled = True            # labels read by reader(); False: read_fields (reference)
        self._linemask = 0xFFFF         # the 8259s are masked whole before lines go via the IO APIC
        self._spinning: dict = {}       # cpu -> what it said it spins on (SPIN_WAITS)
        self._ptr: dict = {}            # LWP name -> its struct (names handed out)
        self._ipl: dict = {}            # cpu -> the IPL its last cpu.ipl said
        self._guarded: dict = {}        # stack owner -> whether it has a red zone

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
        # while a hook runs, memory stands still: a name worked out once
        # serves the event's other fields and the checkers (the view's
        # ``memo``, emptied at every hook; LWP names are its int keys)
        memo = self.view.memo
        if memo is None:
            return self._lwp_name(ptr)
        name = memo.get(ptr)
        if name is None:
            name = memo[ptr] = self._lwp_name(ptr)
        return name

    def _lwp_name(self, ptr: int) -> str:
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

    def cpu_of_info(self, ptr: int) -> Optional[int]:
        """The index of the CPU whose cpu_info is at ``ptr``."""
        for cpu in range(self.view.ncpus()):
            if self.cpu_base(cpu) == ptr:
                return cpu
        return None

    def current_name(self, cpu: int) -> Optional[str]:
        return self.lwp_name(self.cpu_lwp(cpu) or 0)

    def ptr_of(self, name: str) -> Optional[int]:
        """The struct lwp of the LWP named ``name`` (the LWP table searched,
        the answer kept)."""
        ptr = self._ptr.get(name)
        if ptr is not None and self.lwp_name(ptr) == name:
            return ptr
        table, n, size = self.d["lwp_table"], self.c["nlwp"], self.c["lwp_size"]
        slots = [table + i * size for i in range(n)] if table is not None and n and size else []
        for ptr in slots:
            if self.lwp_name(ptr) == name:
                self._ptr[name] = ptr
                return ptr
        return None

    def _lwp_field(self, name: str, const: str) -> Optional[int]:
        ptr, off = self.ptr_of(name) if name else None, self.c[const]
        return self._u32(ptr + off) if ptr is not None and off is not None else None

    def saved_sp(self, name: str) -> Optional[int]:
        """Where an LWP's stack goes on above the switch frame it saved when
        it last left the CPU (or was pinned): L_SP + SWITCH_FRAME."""
        sp = self._lwp_field(name, "lwp_sp")
        return sp + SWITCH_FRAME if sp else None

    def thread_line(self, name: str) -> Optional[int]:
        """The line an interrupt or handler thread serves, else None."""
        if not name.startswith("ithread "):
            return None
        v = self._lwp_field(name, "lwp_line")
        return None if v is None or v == self.c["no_line"] else v

    def next_stack(self, owner: str, region) -> Optional[int]:
        """Where the code that entered ``owner``'s stack left its own: the
        interrupted ESP saved at the top of a per-CPU interrupt stack, or the
        pinned LWP's saved ESP under a borrowing interrupt LWP; None else."""
        if owner.startswith("intr cpu") and region is not None:
            return self._u32(region[1] - 4)
        if owner.startswith("ithread "):
            borrowed = self._lwp_field(owner, "lwp_borrowed")
            off = self.c["lwp_sp"]
            sp = self._u32(borrowed + off) if borrowed and off is not None else None
            return sp + SWITCH_FRAME if sp else None
        return None

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
        if not lwp_ptr:
            return False
        return any(self.cpu_lwp(c) == lwp_ptr for c in range(self.view.ncpus()))

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
        self._emit_fields = getattr(sink, "emit_fields", None) or \
            (lambda kind, cpu, fields: sink.emit(kind, cpu, **fields))
        self._stacks = observer.stacks
        for label, addr in sorted(self.labels.items(), key=lambda x: x[1]):
            if label in WATCHED:
                observer.view.add_exec_hook(addr, observer.guard(addr, getattr(self, WATCHED[label])))
                continue
            spec = LABELS.get(label) or ENTRIES.get(label)
            if spec is None:
                continue
            if label in ACQUIRES:
                hook = self._on_acquire
            elif label in SPIN_WAITS or label in SPINS:
                hook = self._spin_hook(spec, SPINS.get(label))
            else:
                hook = self._hook(spec, ends_spin=label in SPIN_ENDS)
            observer.view.add_exec_hook(addr, observer.guard(addr, hook))
        addr = self.labels.get("obs_ioapic_rte")
        if addr is not None:
            observer.view.add_exec_hook(addr, observer.guard(addr, self._on_rte))
        if self.c["line_class_base"] is not None:
            observer.kernel_line = self.line_of_vector

    def _on_acquire(self, machine, cpu) -> None:
        cpu = self.view.cpu_index(cpu)
        self._spinning.pop(cpu, None)
        m = self.view.reg(cpu, "ebx")
        new = self.view.reg(cpu, "ecx")
        who = self.lwp_name(new)
        lock = self.lock_name(m)
        fields = {"lock": lock, "owner": who, "owner_running": True,     # the trace's order
                  "kind": self.lock_kind(m), "by": who}
        if self.compiled:
            self._emit_fields("lock.acquire", cpu, fields)
        else:
            self.sink.emit("lock.acquire", cpu, **fields)
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
            # who holds it: the LWP current on the owning CPU
            owner_cpu = self.cpu_of_info(holder)
            owner = self.lwp_name(self.cpu_lwp(owner_cpu) or 0) if owner_cpu is not None else None
            self.sink.emit("biglock.contend", cpu, lwp=self.lwp_name(self.cpu_lwp(cpu) or 0),
                           owner=owner, owner_cpu=owner_cpu)

    def stack_usage(self, stacks) -> list:
        """[(owner, kind, size, used)] of every known stack: ``used`` is how
        far down from its top it was ever written (the lowest non-zero
        32-bit word, as Linux's stack_not_used reads a zero-filled stack a
        long at a time: a byte count would move with the kernel's layout
        whenever the deepest word is an address whose low byte is 0)."""
        self._scan_cpus(stacks)
        self._scan_lwps(stacks)
        out = []
        for name in stacks.names():
            kind = next((k for prefix, k in STACK_KINDS if name.startswith(prefix)), None)
            lo, hi = stacks.region(name)
            data = self.view.mem_read(lo, hi - lo) if kind and hi > lo else None
            if data is None:
                continue
            untouched = (len(data) - len(data.lstrip(b"\0"))) // 4 * 4
            out.append((name, kind, hi - lo, hi - lo - untouched))
        return out

    def line_of_vector(self, vector: int) -> Optional[int]:
        """The line of a vector routed through the IO APIC (or the BSP's
        LAPIC timer, line 0's vector), else None."""
        base = self.c["line_class_base"]
        if base is None or not base <= vector < base + 128:
            return None
        return (vector - base) & 15

    def _on_rte(self, machine, cpu) -> None:
        """A redirection entry written: a line's mask at the IO APIC, if it changed."""
        cpu = self.view.cpu_index(cpu)
        line = self.view.reg(cpu, "edx") & 0xF
        entry = self.view.reg(cpu, "eax")
        masked = bool(entry & 0x10000)
        if masked != bool(self._linemask >> line & 1):
            self._linemask ^= 1 << line
            vector = entry & 0xFF
            base = self.c["line_class_base"] or 0
            self.sink.emit("pic.mask" if masked else "pic.unmask", cpu, line=line,
                           via="ioapic", vector=vector, ipl=(vector - base) >> 4)

    def _hook(self, spec, ends_spin: bool = False):
        kind, fields = spec
        if self.compiled:
            # the fields read in the trace's order, the event made as is
            read = compile_reader(self, fields, kind)
            emit_fields = self._emit_fields
        else:
            emit = self.sink.emit
            read = (lambda cpu: self.read_fields(cpu, fields))

            def emit_fields(kind, cpu, got):
                emit(kind, cpu, **got)

        def on_label(machine, cpu):
            cpu = self.view.cpu_index(cpu)
            if ends_spin:
                self._spinning.pop(cpu, None)
            emit_fields(kind, cpu, read(cpu))
        return on_label

    def _spin_hook(self, spec, spins: Optional[str]):
        """A label in a spin loop: say it once per wait.  ``spins``: the
        register that says the waiter spins (a contention label, which is
        said each time it decides to block); without it the label always
        spins (``lock.spin`` itself)."""
        kind, fields = spec
        read = self.reader(fields) if self.compiled else \
            (lambda cpu: self.read_fields(cpu, fields))

        def on_spin(machine, cpu):
            cpu = self.view.cpu_index(cpu)
            got = read(cpu)
            spinning = spins is None or self.view.reg(cpu, spins)
            key = (kind, got.get("lock"), got.get("owner"))
            if spinning and self._spinning.get(cpu) == key:
                return                      # the same wait, one more iteration
            self.sink.emit(kind, cpu, **got)
            if spins is not None and spinning:
                self.sink.emit("lock.spin", cpu, **got)
            if spinning:
                self._spinning[cpu] = key
        return on_spin

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

    def reader(self, fields: dict):
        """``read_fields(cpu, fields)`` compiled once per label (fields.py)."""
        return compile_reader(self, fields)

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
            elif how == "lwpword":
                out[name] = self.lwp_name(val & ~3)
            elif how == "runword":
                out[name] = self.running(val & ~3)
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
                mask = self._u32(self.d["intr_held"])
                out[name] = None if mask is None else (mask >> val) & 1
            elif how == "cpuof":
                base, size = self.d["cpu_info"], self.c["cpu_size"]
                out[name] = (val - base) // size if base is not None and size else None
            elif how == "cpuidx":
                out[name] = cpu
            elif how == "ipl":
                b = self.cpu_base(cpu)
                if b is not None and self.ipl_off is not None:
                    out[name] = self._u32(b + self.ipl_off)
        return out

    def guard(self, owner: str) -> Optional[tuple]:
        """(lo, hi) of the red zone below an LWP's stack, if the kernel has one."""
        size = self.c["stack_guard"]
        region = self._stacks.region(owner) if getattr(self, "_stacks", None) else None
        if not size or region is None:
            return None
        has = self._guarded.get(owner)
        if has is None:
            has = self._guarded[owner] = owner.startswith(("lwp ", "ithread ", "softint ", "idle "))
        return (region[0] - size, region[0]) if has else None
