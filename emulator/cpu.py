"""One x86 CPU: a Unicorn engine plus what Unicorn leaves out.

Unicorn executes instructions but does not vector interrupts (KEYSTONE.md):
``int n`` and CPU exceptions reach ``UC_HOOK_INTR`` with the vector only.
``Cpu.deliver`` does what the processor does (Intel SDM vol. 3A, 6.12
"Exception and interrupt handling", 6.13 error codes, 6.15 table 6-5):

* read gate ``vector`` of the IDT (IDTR base/limit); an index past the
  limit, a gate that is not a 32/16-bit interrupt or trap gate, or (for
  ``int n``) a gate with DPL < CPL is #GP(vector*8+2+EXT); a gate with P=0
  is #NP(vector*8+2+EXT); task gates are not supported (a crash report);
* check the target code segment in the GDT: null is #GP(EXT), out of the
  GDT limit or not a code segment is #GP(selector+EXT), not present is
  #NP(selector+EXT);
* push EFLAGS, CS, EIP (and the error code for #DF #TS #NP #SS #GP #PF
  #AC) on the current stack (ring 0 only: no stack switch), load CS:EIP,
  clear TF, NT, RF and VM, and IF too for an interrupt gate (not a trap
  gate);
* a fault while delivering is combined with the first event by table 6-5:
  contributory on contributory, or contributory/#PF on #PF, is #DF (error
  code 0); a fault while delivering #DF is a triple fault, raised as
  ``TripleFault`` for the machine to stop on.

Registers are read and written by lower-case name (``cpu.read("eax")``,
``cpu.eip``).  ``halted`` is True after ``hlt`` until an interrupt wakes it.
"""

from __future__ import annotations

import ctypes
import struct
from typing import Optional

import unicorn
from unicorn import x86_const as X
from unicorn.unicorn_py3.unicorn import uclib

# vectors that push an error code (SDM table 6-1)
ERROR_CODE_VECTORS = frozenset({8, 10, 11, 12, 13, 14, 17})
CONTRIBUTORY = frozenset({0, 10, 11, 12, 13})
VEC_DF, VEC_TS, VEC_NP, VEC_SS, VEC_GP, VEC_PF, VEC_UD = 8, 10, 11, 12, 13, 14, 6

EXCEPTION_NAMES = {
    0: "#DE divide error", 1: "#DB debug", 2: "NMI", 3: "#BP breakpoint", 4: "#OF overflow",
    5: "#BR bound range", 6: "#UD invalid opcode", 7: "#NM no math coprocessor",
    8: "#DF double fault", 10: "#TS invalid TSS", 11: "#NP segment not present",
    12: "#SS stack fault", 13: "#GP general protection", 14: "#PF page fault",
    16: "#MF x87 error", 17: "#AC alignment check", 18: "#MC machine check",
    19: "#XM SIMD exception",
}

EFLAGS_TF, EFLAGS_IF, EFLAGS_NT, EFLAGS_RF, EFLAGS_VM = 1 << 8, 1 << 9, 1 << 14, 1 << 16, 1 << 17

REGS = {name: getattr(X, "UC_X86_REG_" + name.upper()) for name in (
    "eax", "ebx", "ecx", "edx", "esi", "edi", "ebp", "esp", "eip", "eflags",
    "cs", "ds", "es", "fs", "gs", "ss", "cr0", "cr2", "cr3", "cr4",
    "ax", "bx", "cx", "dx", "al", "bl", "cl", "dl", "ah", "bh", "ch", "dh", "si", "di", "sp", "bp")}
GPRS = ("eax", "ebx", "ecx", "edx", "esi", "edi", "ebp", "esp")


class _Mmr(ctypes.Structure):
    """unicorn's uc_x86_mmr (GDTR, IDTR): selector, base, limit, flags."""
    _fields_ = [("selector", ctypes.c_uint16), ("base", ctypes.c_uint64),
                ("limit", ctypes.c_uint32), ("flags", ctypes.c_uint32)]


class DeliveryFault(Exception):
    """A fault raised while vectoring an event (becomes the next event)."""

    def __init__(self, vector: int, error_code: int = 0) -> None:
        super().__init__(vector, error_code)
        self.vector = vector
        self.error_code = error_code


class TripleFault(Exception):
    """A fault while delivering #DF: the processor shuts down."""


class Unsupported(Exception):
    """Something the emulator does not model (a task gate, a ring change)."""


def exception_name(vector: int) -> str:
    return EXCEPTION_NAMES.get(vector, f"vector {vector:#x}")


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
        self.shadow_spent = False       # the last instruction ran in a shadow: none follows
        self.just_delivered = True      # nothing retired since the last delivery
        self.nmi_blocked = False        # an NMI handler runs (until its iret)
        self.nmi_esp = 0                # ESP just after the NMI frame was pushed
        self.maybe_16bit = False        # started by a SIPI, 32-bit code not yet seen
        self.restored_prev = None       # (pc, time, instruction before) kept by a restore
        self.ram = None                 # the machine's RAM (memoryview), read directly
        # registers go straight to libunicorn: the binding's reg_read costs ~10x more
        self._uch = uc._uch
        self._val = ctypes.c_uint64()
        self._pval = ctypes.byref(self._val)
        self._ss_cache = (-1, 0)
        self._mmr = _Mmr()
        self._pmmr = ctypes.byref(self._mmr)

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
        self._val.value = 0
        uclib.uc_reg_read(self._uch, regid, self._pval)
        return self._val.value

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
        if not self._get(X.UC_X86_REG_CR0) & 1:
            return True
        sel = self._get(X.UC_X86_REG_CS)
        base, limit = self._table(X.UC_X86_REG_GDTR)
        index = sel & ~7
        if index == 0 or index + 7 > limit:
            return True
        _lo, hi = struct.unpack("<II", self._read(base + index, 8))
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

    def registers(self) -> dict:
        names = GPRS + ("eip", "eflags", "cs", "ds", "es", "fs", "gs", "ss", "cr0")
        return {n: self.read(n) for n in names}

    def load_registers(self, regs: dict) -> None:
        for name in ("cr0", "cs", "ds", "es", "fs", "gs", "ss") + GPRS + ("eflags", "eip"):
            if name in regs:
                self.write(name, regs[name])

    # -- descriptor tables ---------------------------------------------------
    def _table(self, reg: int) -> tuple[int, int]:
        mmr = self._mmr
        uclib.uc_reg_read(self._uch, reg, self._pmmr)
        return mmr.base, mmr.limit

    def _read(self, addr: int, n: int) -> bytes:
        ram = self.ram
        if ram is not None and 0 <= addr and addr + n <= len(ram):
            return bytes(ram[addr:addr + n])
        try:
            return bytes(self.uc.mem_read(addr & 0xFFFFFFFF, n))
        except unicorn.UcError:
            raise DeliveryFault(VEC_GP, 0) from None

    def _segment_base(self, selector: int) -> int:
        base, limit = self._table(X.UC_X86_REG_GDTR)
        index = selector & ~7
        if index == 0 or index + 7 > limit:
            return 0
        lo, hi = struct.unpack("<II", self._read(base + index, 8))
        return (lo >> 16) | ((hi & 0xFF) << 16) | (hi & 0xFF000000)

    def _check_code_segment(self, selector: int, ext: int) -> None:
        base, limit = self._table(X.UC_X86_REG_GDTR)
        index = selector & ~7
        if index == 0:
            raise DeliveryFault(VEC_GP, ext)
        if selector & 4 or index + 7 > limit:
            raise DeliveryFault(VEC_GP, index | ext)
        _lo, hi = struct.unpack("<II", self._read(base + index, 8))
        if not (hi >> 12) & 1 or not (hi >> 11) & 1:       # S=1 and code
            raise DeliveryFault(VEC_GP, index | ext)
        if not (hi >> 15) & 1:
            raise DeliveryFault(VEC_NP, index | ext)

    # -- delivery --------------------------------------------------------------
    def deliver(self, vector: int, kind: str, error_code: Optional[int] = None) -> None:
        """Vector event ``vector`` through the IDT (``kind``: irq, exception, soft).

        Faults during delivery are combined as table 6-5; raises
        ``TripleFault`` when #DF itself cannot be delivered."""
        first = vector
        ext = 1 if kind != "soft" else 0
        try:
            self._deliver_once(vector, kind, error_code, ext)
            return
        except DeliveryFault as f:
            second = f
        if first == VEC_DF:
            raise TripleFault(f"{exception_name(second.vector)} while delivering #DF")
        if kind == "exception" and (
                (first in CONTRIBUTORY and second.vector in CONTRIBUTORY)
                or (first == VEC_PF and (second.vector in CONTRIBUTORY or second.vector == VEC_PF))):
            self.deliver(VEC_DF, "exception", 0)
            return
        # benign combinations: the second fault is handled serially
        try:
            self._deliver_once(second.vector, "exception", second.error_code | 1, 1)
        except DeliveryFault as third:
            if second.vector in CONTRIBUTORY and third.vector in CONTRIBUTORY:
                self.deliver(VEC_DF, "exception", 0)
            else:
                self.deliver(third.vector, "exception", third.error_code | 1)

    def _deliver_once(self, vector: int, kind: str, error_code: Optional[int], ext: int) -> None:
        base, limit = self._table(X.UC_X86_REG_IDTR)
        gate_err = vector * 8 + 2 + ext
        if vector * 8 + 7 > limit:
            raise DeliveryFault(VEC_GP, gate_err)
        lo, hi = struct.unpack("<II", self._read(base + vector * 8, 8))
        gtype = (hi >> 8) & 0x1F
        dpl = (hi >> 13) & 3
        if gtype == 0x05:
            raise Unsupported(f"vector {vector:#x} has a task gate (task switches are not emulated)")
        if gtype not in (0x06, 0x07, 0x0E, 0x0F):
            raise DeliveryFault(VEC_GP, gate_err)
        cpl = self.read("cs") & 3
        if kind == "soft" and dpl < cpl:
            raise DeliveryFault(VEC_GP, vector * 8 + 2)
        if not (hi >> 15) & 1:
            raise DeliveryFault(VEC_NP, gate_err)
        if cpl != 0:
            raise Unsupported("an interrupt from ring 3 (stack switch through the TSS is not emulated)")
        selector = lo >> 16
        offset = (lo & 0xFFFF) | (hi & 0xFFFF0000)
        if gtype in (0x06, 0x07):
            offset &= 0xFFFF
        self._check_code_segment(selector, ext)
        eflags = self.eflags
        words = [eflags, self.read("cs"), self.eip]
        if kind == "exception" and vector in ERROR_CODE_VECTORS:
            words.append(0 if error_code is None else error_code)
        ss = self.read("ss")
        ss_base = self._ss_cache[1] if self._ss_cache[0] == ss else self._segment_base(ss)
        esp = self.read("esp")
        new_esp = (esp - 4 * len(words)) & 0xFFFFFFFF
        data = b"".join(struct.pack("<I", w & 0xFFFFFFFF) for w in reversed(words))
        top = (ss_base + new_esp) & 0xFFFFFFFF
        if self.ram is not None and top + len(data) <= len(self.ram):
            self.ram[top:top + len(data)] = data
        else:
            try:
                self.uc.mem_write(top, data)
            except unicorn.UcError:
                raise DeliveryFault(VEC_SS, ext) from None
        self.write("esp", new_esp)
        if words[1] != selector:
            try:
                self.write("cs", selector)
            except unicorn.UcError:
                raise DeliveryFault(VEC_GP, (selector & ~3) | ext) from None
        flags = eflags & ~(EFLAGS_TF | EFLAGS_NT | EFLAGS_RF | EFLAGS_VM)
        if gtype in (0x06, 0x0E):
            flags &= ~EFLAGS_IF
        self.write("eflags", flags)
        self.eip = offset
        self.halted = False


# -- Unicorn's leftover exception state ----------------------------------------
# QEMU remembers the last contributory exception (env->old_exception) to turn
# a second one into #DF, and forgets it only in do_interrupt_all -- which
# Unicorn replaces by UC_HOOK_INTR.  Left alone, a #GP long after a handled
# #DE reaches the hook as #DF.  After each delivery the machine resets that
# field in a saved context; its offset is found once per process by diffing
# contexts before and after a #DE on a scratch engine.

_OLD_EXC_OFFSET: Optional[int] = None
_OLD_EXC_SEARCHED = False


def _find_old_exception_offset() -> Optional[int]:
    uc = unicorn.Uc(unicorn.UC_ARCH_X86, unicorn.UC_MODE_32)
    uc.mem_map(0, 0x2000)
    uc.mem_write(0x1000, b"\xf7\xf1\xf7\xf1\x8e\xd8")       # div ecx; div ecx; mov ds, ax
    seen = []
    uc.hook_add(unicorn.UC_HOOK_INTR, lambda u, n, d: (seen.append(n), u.emu_stop()))
    before = bytes(uc.context_save())
    uc.emu_start(0x1000, 0x1006)
    after = bytes(uc.context_save())
    candidates = [i for i in range(0, len(before) - 3, 4)
                  if before[i:i + 4] == b"\xff\xff\xff\xff" and after[i:i + 4] == b"\0\0\0\0"]
    for off in candidates:
        ctx = uc.context_save()
        ctypes.memmove(ctypes.cast(ctx.context, ctypes.c_void_p).value + off, b"\xff\xff\xff\xff", 4)
        uc.context_restore(ctx)
        seen.clear()
        uc.reg_write(X.UC_X86_REG_EAX, 0x0803)
        uc.emu_start(0x1004, 0x1006)          # mov ds with a bad selector: #GP, not #DF
        if seen == [VEC_GP]:
            return off
    return None


def reset_exception_chain(uc) -> None:
    """Make the engine forget the exception it just reported (see above)."""
    global _OLD_EXC_OFFSET, _OLD_EXC_SEARCHED
    if not _OLD_EXC_SEARCHED:
        _OLD_EXC_SEARCHED = True
        _OLD_EXC_OFFSET = _find_old_exception_offset()
    if _OLD_EXC_OFFSET is None:
        return
    ctx = uc.context_save()
    ctypes.memmove(ctypes.cast(ctx.context, ctypes.c_void_p).value + _OLD_EXC_OFFSET,
                   b"\xff\xff\xff\xff", 4)
    uc.context_restore(ctx)


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
