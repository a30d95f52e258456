"""One x86 CPU: a Unicorn engine plus what Unicorn leaves out.

Unicorn executes instructions (its own page walk included: CR2 and the
error code of a #PF it raises are QEMU's) but does not vector interrupts
(KEYSTONE.md): ``int n`` and CPU exceptions reach ``UC_HOOK_INTR`` with the
vector only.  ``Cpu.deliver`` does what the processor does; the rules are
in emulator/delivery.py (protected and real mode, privilege changes, the
combination of faults, table 6-5) and emulator/tasks.py (task gates).  This
file gives them the processor's view of itself:

* registers by lower-case name (``cpu.read("eax")``, ``cpu.eip``), the CPL,
  the descriptor tables and the TSS;
* the processor's own memory accesses (``sys_read``/``sys_write``): linear
  addresses through the MMU (emulator/mmu.py) when CR0.PG is set, as
  supervisor-mode accesses; a page fault there is a ``DeliveryFault(#PF)``
  carrying the address for CR2;
* segment loads the way delivery and task switches load them, including a
  change of CPL (``load_segments``): Unicorn's register writes check a
  selector against the *current* CPL, so the CPL is first set to the
  target's by loading SS in real mode (CPL 0) or virtual-8086 mode (CPL 3),
  then the selectors are loaded normally and checked as usual.

``halted`` is True after ``hlt`` until an interrupt wakes it.
"""

from __future__ import annotations

import ctypes
import struct
from typing import Optional

import unicorn
from unicorn import x86_const as X
from unicorn.unicorn_py3.unicorn import uclib

from emulator.delivery import deliver as _deliver
from emulator.engine_state import (_find_old_exception_offset,  # noqa: F401 (tests pin it)
                                   exception_error_code, reset_exception_chain)
from emulator.mmu import CR0_PG, BusError, Mmu, PageFault
# the architecture's constants and the delivery's exceptions, as before from here
from emulator.x86 import (CONTRIBUTORY, CR0_PE, EFLAGS_AC, EFLAGS_IF,  # noqa: F401
                          EFLAGS_NT, EFLAGS_RF, EFLAGS_TF, EFLAGS_VM, ERROR_CODE_VECTORS,
                          EXCEPTION_NAMES, VEC_DB, VEC_DF, VEC_GP, VEC_NP, VEC_PF, VEC_SS,
                          VEC_TS, VEC_UD, CpuCrash, DeliveryFault, TripleFault, Unsupported,
                          exception_name)


REGS = {name: getattr(X, "UC_X86_REG_" + name.upper()) for name in (
    "eax", "ebx", "ecx", "edx", "esi", "edi", "ebp", "esp", "eip", "eflags",
    "cs", "ds", "es", "fs", "gs", "ss", "cr0", "cr2", "cr3", "cr4", "dr6", "dr7",
    "ax", "bx", "cx", "dx", "al", "bl", "cl", "dl", "ah", "bh", "ch", "dh", "si", "di", "sp", "bp")}
GPRS = ("eax", "ebx", "ecx", "edx", "esi", "edi", "ebp", "esp")
# what the native exec hook reads before calling an exec hook (``Cpu.captured``
# holds them in this order while the hook runs): what the observer's readers
# use at every event (emulator/observe/view.py)
HOOK_REGS = ("eax", "ebx", "ecx", "edx", "esi", "edi", "esp", "eip", "eflags", "cs")

# uc_reg_read called with plain integers and without releasing the GIL (it
# returns at once and calls nothing back): the machine and the observer read
# a register at every event, and the binding's prototype costs a third more
_REG_READ = ctypes.PYFUNCTYPE(ctypes.c_int, ctypes.c_void_p, ctypes.c_int, ctypes.c_void_p)(
    ctypes.cast(uclib.uc_reg_read, ctypes.c_void_p).value)


class _Mmr(ctypes.Structure):
    """unicorn's uc_x86_mmr (GDTR, IDTR): selector, base, limit, flags."""
    _fields_ = [("selector", ctypes.c_uint16), ("base", ctypes.c_uint64),
                ("limit", ctypes.c_uint32), ("flags", ctypes.c_uint32)]


class _Batch:
    """The buffers of one ``uc_reg_write_batch`` call (registers of 32 bits
    or less): ids, values, pointers."""

    def __init__(self, ids: tuple) -> None:
        self.n = len(ids)
        self.ids = (ctypes.c_int * self.n)(*ids)
        self.vals = (ctypes.c_uint64 * self.n)()
        base = ctypes.addressof(self.vals)
        self.ptrs = (ctypes.c_void_p * self.n)(*[base + 8 * i for i in range(self.n)])


class _FrameBatch:
    """The buffers of the one ``uc_reg_read_batch`` a delivery makes: five
    registers of 32 bits or less, then IDTR and GDTR (``uc_x86_mmr``
    each), every value behind its own pointer."""

    IDS = (X.UC_X86_REG_CS, X.UC_X86_REG_EFLAGS, X.UC_X86_REG_EIP, X.UC_X86_REG_ESP,
           X.UC_X86_REG_SS, X.UC_X86_REG_IDTR, X.UC_X86_REG_GDTR)

    def __init__(self) -> None:
        self.n = len(self.IDS)
        self.ids = (ctypes.c_int * self.n)(*self.IDS)
        self.vals = (ctypes.c_uint64 * 5)()
        self.idtr, self.gdtr = _Mmr(), _Mmr()
        base = ctypes.addressof(self.vals)
        self.ptrs = (ctypes.c_void_p * self.n)(*[base + 8 * i for i in range(5)],
                                                ctypes.addressof(self.idtr),
                                                ctypes.addressof(self.gdtr))


class Descriptor:
    """An 8-byte segment or gate descriptor (SDM 3.4.5) and where it lies."""

    __slots__ = ("lo", "hi", "addr")

    def __init__(self, lo: int, hi: int, addr: int) -> None:
        self.lo, self.hi, self.addr = lo, hi, addr

    @property
    def type(self) -> int:          # S and type: bits 12..8 of the high word
        return (self.hi >> 8) & 0x1F

    @property
    def dpl(self) -> int:
        return (self.hi >> 13) & 3

    @property
    def present(self) -> bool:
        return bool(self.hi & (1 << 15))

    @property
    def base(self) -> int:
        return (self.lo >> 16) | ((self.hi & 0xFF) << 16) | (self.hi & 0xFF000000)

    @property
    def limit(self) -> int:
        raw = (self.lo & 0xFFFF) | (self.hi & 0xF0000)
        return (raw << 12) | 0xFFF if self.hi & (1 << 23) else raw

    def is_code(self) -> bool:
        return self.type & 0x18 == 0x18

    def is_writable_data(self) -> bool:
        return self.type & 0x1A == 0x12

    def is_conforming(self) -> bool:
        return self.type & 0x1C == 0x1C


class Cpu:
    """One CPU: its engine, register access by name, and event delivery."""

    def __init__(self, index: int, uc: "unicorn.Uc") -> None:
        self.index = index
        self.uc = uc
        self.halted = False
        self.interrupt_source = None    # object with intr_pending() and acknowledge()
        # the machine's run-loop state for this CPU, all of it here: the
        # instruction clock's (emulator/icount.py) ...
        self.st = None                  # block-hook counters (HookState or the C struct)
        self.native = None              # this engine's C block hook, if loaded
        self.blocks: dict = {}          # linear address -> the block last entered there
        # ... and accepting events at a boundary (emulator/accept.py)
        self.pending_exc = None         # (vector, kind, error_code) raised, not yet delivered
        self.io_refused = None          # a port access refused in this run (emulator/ioperm.py)
        self.shadow_spent = False       # the last instruction ran in a shadow: none follows
        self.just_delivered = True      # nothing retired since the last delivery
        self.nmi_blocked = False        # an NMI handler runs (until its iret)
        self.nmi_esp = 0                # ESP just after the NMI frame was pushed
        self.maybe_16bit = False        # started by a SIPI, 32-bit code not yet seen
        self.restored_prev = None       # (pc, time, instruction before) kept by a restore
        self.ram = None                 # the machine's RAM (memoryview), read directly
        self._mmu: Optional[Mmu] = None
        self._crs: Optional[tuple] = None       # CR0, CR3, CR4 held during a delivery
        self._base_cache: tuple = (None, 0)     # ((selector, GDTR), base) last looked up
        self.exits: Optional[tuple] = None  # the engine's exits list (None: until mode)
        self.cr2_kept: Optional[int] = None     # CR2 to restore after the run that turns paging on
        self.stalls = 0                 # engine runs in a row that retired nothing (watchdog)
        self.paging_on = False          # CR0.PG as last written (crwrite.py, restore): a cheap test
        # HOOK_REGS as the native exec hook read them just before the exec
        # hook running now (a ctypes array), None outside one or without it
        self.captured = None
        # registers go straight to libunicorn: the binding's reg_read costs ~10x more
        self._uch = uc._uch
        self._val = ctypes.c_uint64()
        self._pval = ctypes.byref(self._val)
        self._uch_addr = uc._uch.value
        self._val_addr = ctypes.addressof(self._val)
        self._mmr = _Mmr()
        self._pmmr = ctypes.byref(self._mmr)
        self._batches: dict = {}        # register ids -> _Batch (write_batch)
        self._frame = _FrameBatch()     # frame_state's buffers

    # -- the run-loop state a snapshot keeps (Machine.snapshot/restore) -------
    LOOP_STATE = ("pending_exc", "shadow_spent", "just_delivered", "nmi_blocked", "nmi_esp",
                  "maybe_16bit")

    def save_loop_state(self) -> dict:
        d = {name: getattr(self, name) for name in self.LOOP_STATE}
        d["last_block"], d["cur_block"] = self.st.last_block, self.st.cur_block
        return d

    def load_loop_state(self, d: dict, now: int) -> None:
        """Back to a saved state at time ``now`` (no block in progress)."""
        for name in self.LOOP_STATE:
            setattr(self, name, d[name])
        self.st.now = self.st.block_start = now
        self.st.last_block, self.st.cur_block = d["last_block"], d["cur_block"]
        self.st.skip_addr = -1

    # -- registers -----------------------------------------------------------
    def _get(self, regid: int) -> int:
        val = self._val
        val.value = 0
        _REG_READ(self._uch_addr, regid, self._val_addr)
        return val.value

    def frame_state(self) -> tuple:
        """(CS, EFLAGS, EIP, ESP, SS, (IDT base, limit), (GDT base, limit)):
        what a protected-mode delivery reads, in one call into libunicorn
        (seven calls one by one; a delivery's time went mostly to them)."""
        f = self._frame
        ctypes.memset(f.vals, 0, 40)
        uclib.uc_reg_read_batch(self._uch, f.ids, f.ptrs, f.n)
        cs, eflags, eip, esp, ss = f.vals
        return (cs, eflags, eip, esp, ss, (f.idtr.base, f.idtr.limit),
                (f.gdtr.base, f.gdtr.limit))

    def write_batch(self, ids: tuple, values: tuple) -> None:
        """Write registers ``ids`` (32 bits or less) in order, in one call;
        as ``_set`` one by one would."""
        b = self._batches.get(ids)
        if b is None:
            b = self._batches[ids] = _Batch(ids)
        vals = b.vals
        for i, v in enumerate(values):
            vals[i] = v & 0xFFFFFFFF
        if uclib.uc_reg_write_batch(self._uch, b.ids, b.ptrs, b.n):
            raise unicorn.UcError(unicorn.UC_ERR_EXCEPTION)

    def _set(self, regid: int, value: int) -> None:
        v = ctypes.c_uint64(value & 0xFFFFFFFF)
        if uclib.uc_reg_write(self._uch, regid, ctypes.byref(v)):
            raise unicorn.UcError(unicorn.UC_ERR_EXCEPTION)

    def read(self, name: str) -> int:
        return self._get(REGS[name.lower()])

    def write(self, name: str, value: int) -> None:
        self._set(REGS[name.lower()], value)

    def __getitem__(self, name: str) -> int:
        return self.read(name)

    def __setitem__(self, name: str, value: int) -> None:
        self.write(name, value)

    @property
    def eip(self) -> int:
        return self._get(X.UC_X86_REG_EIP)

    @eip.setter
    def eip(self, value: int) -> None:
        self._set(X.UC_X86_REG_EIP, value)

    @property
    def pc(self) -> int:
        """The linear address of the next instruction (CS base + EIP in real mode)."""
        eip = self._get(X.UC_X86_REG_EIP)
        if self.maybe_16bit and self.code_16bit():
            # real mode, or PE just set with CS not yet reloaded: the hidden
            # base is still the real-mode one, selector << 4
            return (eip + (self._get(X.UC_X86_REG_CS) << 4)) & 0xFFFFFFFF
        return eip

    def code_16bit(self) -> bool:
        """True while the CPU decodes 16-bit code: real mode, or a CS whose
        GDT descriptor is out of the table or has D=0 (right after CR0.PE is
        set, before the far jump).  Only checked after a start-up IPI."""
        if not self.maybe_16bit:
            return False
        if not self._get(X.UC_X86_REG_CR0) & CR0_PE:
            return True
        sel = self._get(X.UC_X86_REG_CS)
        base, limit = self._table(X.UC_X86_REG_GDTR)
        index = sel & ~7
        if index == 0 or index + 7 > limit:
            return True
        _lo, hi = struct.unpack("<II", self._phys_or_linear(base + index, 8))
        if (hi >> 22) & 1:
            self.maybe_16bit = False        # 32-bit code from here on
            return False
        return True

    @property
    def eflags(self) -> int:
        return self._get(X.UC_X86_REG_EFLAGS)

    @property
    def interrupts_enabled(self) -> bool:
        return bool(self.eflags & EFLAGS_IF)

    def protected(self) -> bool:
        cr0 = self._crs[0] if self._crs is not None else self._get(X.UC_X86_REG_CR0)
        return bool(cr0 & CR0_PE)

    def cpl(self) -> int:
        """The current privilege level: CS.RPL in protected mode, else 0."""
        return self._get(X.UC_X86_REG_CS) & 3 if self.protected() else 0

    def registers(self) -> dict:
        names = GPRS + ("eip", "eflags", "cs", "ds", "es", "fs", "gs", "ss", "cr0")
        return {n: self.read(n) for n in names}

    def load_registers(self, regs: dict) -> None:
        for name in ("cr0", "cs", "ds", "es", "fs", "gs", "ss") + GPRS + ("eflags", "eip"):
            if name in regs:
                self.write(name, regs[name])

    # -- memory as the processor sees it ---------------------------------------
    @property
    def mmu(self) -> Mmu:
        if self._mmu is None:
            self._mmu = Mmu(self.ram, self._control_registers)
        return self._mmu

    def _control_registers(self) -> tuple:
        if self._crs is not None:
            return self._crs
        return (self._get(X.UC_X86_REG_CR0), self._get(X.UC_X86_REG_CR3),
                self._get(X.UC_X86_REG_CR4))

    def paging(self) -> bool:
        cr0 = self._crs[0] if self._crs is not None else self._get(X.UC_X86_REG_CR0)
        return bool(cr0 & CR0_PG)

    def hold_control_registers(self, on: bool) -> None:
        """While on, CR0/CR3/CR4 are read once (a delivery's many page walks;
        CR3/CR4 only when paging is on); whoever writes one of them meanwhile
        calls this again."""
        self._crs = None
        if on:
            cr0 = self._get(X.UC_X86_REG_CR0)
            self._crs = (cr0, 0, 0) if not cr0 & CR0_PG else self._control_registers()

    def sys_read(self, addr: int, n: int) -> bytes:
        """A supervisor-mode read at linear ``addr`` (descriptor tables, TSS)."""
        if self.paging():
            try:
                return self.mmu.read(addr, n)
            except PageFault as f:
                raise DeliveryFault(VEC_PF, f.error_code, f.linear) from None
            except BusError as e:
                raise CpuCrash(str(e)) from None
        return self._phys_or_linear(addr, n)

    def translate_write(self, addr: int) -> int:
        """The physical address a supervisor write at linear ``addr`` goes to
        (paging on), or the #PF it raises."""
        try:
            return self.mmu.translate(addr, write=True)
        except PageFault as f:
            raise DeliveryFault(VEC_PF, f.error_code, f.linear) from None
        except BusError as e:
            raise CpuCrash(str(e)) from None

    def sys_write(self, addr: int, data: bytes, fault: tuple) -> None:
        """A supervisor-mode write at linear ``addr``; without paging, memory
        outside RAM is ``fault`` (vector, error code), e.g. #SS for a push."""
        if self.paging():
            try:
                self.mmu.write(addr, data)
            except PageFault as f:
                raise DeliveryFault(VEC_PF, f.error_code, f.linear) from None
            except BusError as e:
                raise CpuCrash(str(e)) from None
            return
        ram = self.ram
        if ram is not None and 0 <= addr and addr + len(data) <= len(ram):
            ram[addr:addr + len(data)] = data
            return
        try:
            self.uc.mem_write(addr & 0xFFFFFFFF, data)
        except unicorn.UcError:
            raise DeliveryFault(*fault) from None

    def _phys_or_linear(self, addr: int, n: int) -> bytes:
        ram = self.ram
        if ram is not None and 0 <= addr and addr + n <= len(ram):
            return bytes(ram[addr:addr + n])
        try:
            return bytes(self.uc.mem_read(addr & 0xFFFFFFFF, n))
        except unicorn.UcError:
            raise DeliveryFault(VEC_GP, 0) from None

    def read_linear(self, addr: int, n: int) -> Optional[bytes]:
        """The debugger's and decoder's read of ``n`` bytes at a linear
        address: no fault, no accessed bit; None where nothing is mapped."""
        if self.paging():
            return self.mmu.read_debug(addr, n)
        try:
            return self._phys_or_linear(addr, n)
        except DeliveryFault:
            return None

    # -- descriptor tables and the TSS ---------------------------------------
    def _table(self, reg: int) -> tuple[int, int]:
        mmr = self._mmr
        uclib.uc_reg_read(self._uch, reg, self._pmmr)
        return mmr.base, mmr.limit

    def idtr(self) -> tuple[int, int]:
        return self._table(X.UC_X86_REG_IDTR)

    def task_register(self) -> tuple[int, int, int, int]:
        """TR: (selector, base, limit, flags) of the hidden part."""
        mmr = self._mmr
        uclib.uc_reg_read(self._uch, X.UC_X86_REG_TR, self._pmmr)
        return mmr.selector, mmr.base, mmr.limit, mmr.flags

    def descriptor(self, selector: int, gdtr: Optional[tuple] = None) -> Optional[Descriptor]:
        """The GDT or LDT entry ``selector`` names, or None past the table's
        limit (``gdtr``: GDTR's (base, limit) when the caller has read it)."""
        if selector & 4:
            mmr = self._mmr
            uclib.uc_reg_read(self._uch, X.UC_X86_REG_LDTR, self._pmmr)
            base, limit = mmr.base, mmr.limit
            if (mmr.selector & 0xFFFC) == 0:
                return None
        else:
            base, limit = gdtr if gdtr is not None else self._table(X.UC_X86_REG_GDTR)
        index = selector & ~7
        if index + 7 > limit:
            return None
        lo, hi = struct.unpack("<II", self.sys_read(base + index, 8))
        return Descriptor(lo, hi, base + index)

    def segment_base(self, selector: int, gdtr: Optional[tuple] = None) -> int:
        """The base of the segment ``selector`` names in the GDT/LDT now (the
        last answer is kept for the same selector and table: delivery asks
        for SS's base at every event; ``gdtr`` as for ``descriptor``)."""
        if not self.protected():
            return (selector & 0xFFFF) << 4
        if selector & 0xFFFC == 0:
            return 0
        if gdtr is None:
            gdtr = self._table(X.UC_X86_REG_GDTR)
        key = (selector, gdtr)
        if self._base_cache[0] == key:
            return self._base_cache[1]
        d = self.descriptor(selector, gdtr)
        base = d.base if d is not None else 0
        if not selector & 4:
            self._base_cache = (key, base)
        return base

    # -- loading segments across privilege levels -----------------------------
    def set_cpl(self, cpl: int) -> None:
        """Make ``cpl`` the CPL before loading selectors of that level (see the
        module docstring): SS loaded in real mode gives CPL 0, in
        virtual-8086 mode CPL 3.  The caller loads CS and SS next."""
        if cpl not in (0, 3):
            raise Unsupported(f"a change to ring {cpl} (rings 1 and 2 are not modelled)")
        if cpl == self.cpl():
            return
        ss = self._get(X.UC_X86_REG_SS)
        if cpl == 0:
            cr0 = self._get(X.UC_X86_REG_CR0)
            self._set(X.UC_X86_REG_CR0, cr0 & ~CR0_PE)
            self._set(X.UC_X86_REG_SS, ss)
            self._set(X.UC_X86_REG_CR0, cr0)
        else:
            flags = self.eflags
            self._set(X.UC_X86_REG_EFLAGS, flags | EFLAGS_VM)
            self._set(X.UC_X86_REG_SS, ss)
            self._set(X.UC_X86_REG_EFLAGS, flags)

    def load_segment(self, name: str, selector: int, fault: tuple) -> None:
        """Load a segment register as an instruction would; an engine refusal
        is the fault ``(vector, error code)``."""
        try:
            self.write(name, selector)
        except unicorn.UcError:
            raise DeliveryFault(*fault) from None

    # -- delivery ----------------------------------------------------------------
    def deliver(self, vector: int, kind: str, error_code: Optional[int] = None) -> None:
        """Vector event ``vector`` (``kind``: irq, exception, soft) through the
        IDT, or the IVT in real mode (emulator/delivery.py)."""
        self.hold_control_registers(True)
        try:
            _deliver(self, vector, kind, error_code)
        finally:
            self._crs = None
        self.halted = False


# -- start-up state (an AP after INIT and SIPI) ---------------------------------
# ``init_registers()`` is the SDM's state after INIT (Vol. 3A Table 9-1, as
# QEMU's do_cpu_init leaves it); ``enter_real_mode(uc, vector)`` loads the
# state a start-up IPI gives (8.4.4.1): real mode, CS = vector << 8 (base
# vector << 12), IP = 0.  A UC_MODE_32 engine with CR0.PE cleared runs 16-bit
# real-mode code, and the trampoline switches itself to protected mode.

def init_registers() -> dict[str, int]:
    """Register state after INIT (SDM Vol. 3A Table 9-1), by Unicorn register name.

    EDX holds the processor signature (QEMU: family/model/stepping of its
    default CPU, 0x663 for qemu32); CR0 = 0x60000010 (CD, NW, ET).
    """
    return {"EAX": 0, "EBX": 0, "ECX": 0, "EDX": 0x663, "ESI": 0, "EDI": 0, "EBP": 0,
            "ESP": 0, "EFLAGS": 0x2, "EIP": 0xFFF0, "CR0": 0x60000010, "CR2": 0, "CR3": 0,
            "CR4": 0, "CS": 0xF000, "DS": 0, "ES": 0, "FS": 0, "GS": 0, "SS": 0}


def sipi_registers(vector: int) -> dict[str, int]:
    """Register state a start-up IPI leaves: real mode at (vector << 8):0000 (SDM 8.4.4.1)."""
    regs = init_registers()
    regs.update(CS=(vector & 0xFF) << 8, EIP=0)
    return regs


def enter_real_mode(uc, vector: int) -> None:
    """Load ``sipi_registers(vector)`` into a Unicorn x86 engine, CR0 first.

    With CR0.PE clear, Unicorn's segment loads are real-mode loads (base =
    selector << 4, 16-bit code), so a UC_MODE_32 engine executes the 16-bit
    trampoline and follows it into protected mode.  CD/NW are not modelled
    by Unicorn and are written clear.  The page at vector << 12 is dropped
    from this engine's translation cache: another CPU wrote the trampoline.
    """
    regs = sipi_registers(vector)
    uc.reg_write(X.UC_X86_REG_CR0, regs.pop("CR0") & 0x1F)
    uc.reg_write(X.UC_X86_REG_GDTR, (0, 0, 0xFFFF, 0))
    uc.reg_write(X.UC_X86_REG_IDTR, (0, 0, 0x3FF, 0))
    for name in ("CS", "DS", "ES", "FS", "GS", "SS"):
        uc.reg_write(getattr(X, f"UC_X86_REG_{name}"), regs.pop(name))
    for name, value in regs.items():
        uc.reg_write(getattr(X, f"UC_X86_REG_{name}"), value)
    base = (vector & 0xFF) << 12
    uc.ctl_remove_cache(base, base + 0x1000)
