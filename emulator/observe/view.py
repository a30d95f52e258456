"""The only place the observer touches the machine's API.

Contract
--------
``MachineView(machine)`` offers the observer, the checkers' context and the
kernel model what they need, in their terms: ``ncpus()``, ``cpu_index(c)``
(hooks may hand a CPU object or its index), ``reg(cpu, 'esp'|'eip'|
'eflags'|'eax'...)``, ``mem_read(addr, n)`` (None when unmapped),
``read_u32(addr)`` (linear addresses: through the page tables when a CPU
has paging on), ``add_exec_hook(addr, fn(machine, cpu))``,
``on_interrupt(fn(cpu, vector, kind, eip_from, error_code))``,
``set_trace(sink)`` (the devices' and the machine's events go to the
observer's sink), ``clock()``, ``symbols()``, ``code()`` -> (bytes, base)
of the loaded image, ``line_of_vector(vector)`` (the PIC input a vector
belongs to, from the PICs' programmed vector bases) and ``schedule(t, fn)``
(``fn(machine)`` at virtual time ``t``).  Keeping these in one
file means a change in the machine's API is a change here only.
"""

from __future__ import annotations

import ctypes
import struct
from typing import Optional

from unicorn import UcError
from unicorn import x86_const as R
from unicorn.unicorn_py3.unicorn import uclib

from emulator.cpu import HOOK_REGS

_REGS = {"eax": R.UC_X86_REG_EAX, "ebx": R.UC_X86_REG_EBX, "ecx": R.UC_X86_REG_ECX,
         "edx": R.UC_X86_REG_EDX, "esi": R.UC_X86_REG_ESI, "edi": R.UC_X86_REG_EDI,
         "ebp": R.UC_X86_REG_EBP, "esp": R.UC_X86_REG_ESP, "eip": R.UC_X86_REG_EIP,
         "eflags": R.UC_X86_REG_EFLAGS, "cs": R.UC_X86_REG_CS}


_U32 = struct.Struct("<I").unpack_from

# what ``hold`` reads in one call: a hook's readers use a few of these,
# several twice (ESP), and one batch costs about as much as one read.  The
# machine's native exec hook reads the same ones before the hook runs
# (emulator/cpu.py HOOK_REGS, ``Cpu.captured``): then nothing is read here
_HELD = HOOK_REGS
_HELD_AT = REG_AT = {name: i for i, name in enumerate(_HELD)}
# uc_reg_read_batch with plain integers (the binding's prototype converts
# each argument, which costs more than the read)
_READ_BATCH = ctypes.PYFUNCTYPE(ctypes.c_int, ctypes.c_void_p, ctypes.c_void_p,
                                ctypes.c_void_p, ctypes.c_int)(
    ctypes.cast(uclib.uc_reg_read_batch, ctypes.c_void_p).value)


class _Batch:
    """One engine's buffers for reading ``_HELD`` in one call
    (``_READ_BATCH(*args)``, then ``vals[:]``).  Each value
    slot only ever receives its own register, whose width (32 bits, 16
    for CS) never changes, so the bytes above it stay the zeros they were
    allocated as: no clearing before a read."""

    def __init__(self, uc) -> None:
        self.uc = uc                    # kept alive while its handle is used
        self.args = None
        if not hasattr(uc, "_uch"):
            return
        n = self.n = len(_HELD)
        self.ids = (ctypes.c_int * n)(*(_REGS[name] for name in _HELD))
        self.vals = (ctypes.c_uint64 * n)()
        base = ctypes.addressof(self.vals)
        self.ptrs = (ctypes.c_void_p * n)(*[base + 8 * i for i in range(n)])
        self.args = (uc._uch.value, ctypes.addressof(self.ids), ctypes.addressof(self.ptrs), n)


class MachineView:
    def __init__(self, machine) -> None:
        self.m = machine
        self._readers: dict = {}       # cpu index -> fn(name) -> int
        self._getters: dict = {}       # cpu index -> the Cpu's fn(register id) -> int
        # the machine's RAM as a buffer: fields are read without a copy
        ram = getattr(machine, "ram_view", None)
        self._ram = ram if isinstance(ram, memoryview) else None
        self._ram_end = (len(ram) - 4) if self._ram is not None else -1
        # the CPUs whose CR0.PG to test before each read (a flag the machine
        # keeps, emulator/crwrite.py): read at every field the observer reads
        self._pagers = tuple(c for c in getattr(machine, "cpus", ())
                             if isinstance(getattr(c, "paging_on", None), bool))
        self._held_cpu = -1             # the CPU a hook holds (``hold``), -1: none
        self._held_regs: Optional[list] = None      # its _HELD registers, once read
        self._batches: dict = {}        # cpu index -> _Batch of its engine
        self.memo: Optional[dict] = None    # readers' per-hook memo (``hold``)
        self._paged: Optional[bool] = None  # whether paging is on, while held
        self.holding = True             # False: ``hold`` holds nothing (reference path)

    # CPUs -------------------------------------------------------------------
    def ncpus(self) -> int:
        return len(self.m.cpus)

    def cpu_index(self, cpu) -> int:
        if cpu.__class__ is int:
            return cpu
        index = getattr(cpu, "index", None)     # the machine's Cpu
        if index.__class__ is int:
            return index
        if isinstance(cpu, int):
            return cpu
        for attr in ("index", "id", "cpu_index"):
            v = getattr(cpu, attr, None)
            if isinstance(v, int):
                return v
        return list(self.m.cpus).index(cpu)

    def _uc(self, cpu: int):
        c = self.m.cpus[cpu]
        return getattr(c, "uc", None) or getattr(c, "engine", None) or c

    def hold(self, cpu: int) -> None:
        """A hook on ``cpu`` begins: its registers, whether paging is on and
        ``memo`` hold until ``release`` (module docstring).  With
        ``holding`` False (the reference path) nothing is held."""
        if self.holding:
            self._held_cpu = cpu
            self._held_regs = None
            self._paged = self._paging()
            self.memo = {}

    def release(self) -> None:
        self._held_cpu = -1
        self._held_regs = None
        self._paged = None
        self.memo = None

    def _read_held(self, cpu: int) -> Optional[list]:
        c = self.m.cpus[cpu]
        captured = getattr(c, "captured", None)
        if captured is not None:                    # read by the native exec hook
            self._held_regs = regs = captured[:len(_HELD)]
            return regs
        uc = getattr(c, "uc", None)
        batch = self._batches.get(cpu)
        if batch is None or batch.uc is not uc:     # first, or a CPU given a new engine
            batch = self._batches[cpu] = _Batch(uc)
        if batch.args is None:
            return None                             # not a Unicorn engine: one by one
        if _READ_BATCH(*batch.args):        # _Batch.read, inline (once per hook)
            raise UcError(1)
        self._held_regs = regs = batch.vals[:]
        return regs

    def regs(self, cpu: int) -> list:
        """[eax, ebx, ecx, edx, esi, edi, esp, eip, eflags, cs] of ``cpu``
        (``REG_AT`` gives a name's place): the held copy while a hook holds
        that CPU, else read now."""
        if cpu == self._held_cpu:
            regs = self._held_regs
            if regs is None:
                regs = self._read_held(cpu)
            if regs is not None:
                return regs
        return [self.reg(cpu, name) for name in _HELD]

    def reg(self, cpu: int, name: str) -> int:
        if cpu == self._held_cpu:
            regs = self._held_regs
            if regs is None:
                regs = self._read_held(cpu)
            i = _HELD_AT.get(name)
            if regs is not None and i is not None:
                return regs[i]
        get = self._getters.get(cpu)
        if get is not None:
            return get(_REGS[name])
        read = self._readers.get(cpu)
        if read is None:
            read = self._readers[cpu] = self._reader(cpu)
        return read(name)

    def _reader(self, cpu: int):
        # the machine's Cpu reads through libunicorn directly; the binding's
        # reg_read costs several times more, and the observer reads
        # registers at every event (``reg`` calls it without a wrapper)
        c = self.m.cpus[cpu]
        get = getattr(c, "_get", None)
        if callable(get):
            self._getters[cpu] = get
            return lambda name: get(_REGS[name])
        if callable(getattr(c, "read", None)):
            return c.read
        uc = self._uc(cpu)
        return lambda name: uc.reg_read(_REGS[name])

    # memory -----------------------------------------------------------------
    def _paging(self) -> bool:
        for c in self._pagers:
            if c.paging_on:
                return True
        return False

    def mem_read(self, addr: int, n: int) -> Optional[bytes]:
        paged = self._paged
        if self._paging() if paged is None else paged:
            # the kernel's addresses are linear: read through the page tables
            return self.m.read_virtual(addr, n)
        try:
            return bytes(self.m.mem_read(addr, n))
        except (UcError, ValueError, IndexError):
            return None

    def ram_slice(self, lo: int, hi: int):
        """RAM ``[lo, hi)`` as a memoryview (no copy), or None when the
        range is not plain RAM."""
        if self._ram is not None and 0 <= lo <= hi <= self._ram_end + 4:
            return self._ram[lo:hi]
        return None

    def read_u32(self, addr: int) -> Optional[int]:
        if 0 <= addr <= self._ram_end:
            paged = self._paged
            if not (self._paging() if paged is None else paged):
                return _U32(self._ram, addr)[0]
        b = self.mem_read(addr, 4)
        return None if b is None or len(b) < 4 else int.from_bytes(b, "little")

    # hooks and events -------------------------------------------------------
    def add_exec_hook(self, addr: int, fn) -> None:
        self.m.add_exec_hook(addr, fn)

    def on_interrupt(self, fn) -> None:
        hooks = self.m.on_interrupt
        if callable(hooks) and not isinstance(hooks, list):
            hooks(fn)
        else:
            hooks.append(fn)

    def set_trace(self, sink) -> None:
        setter = getattr(self.m, "set_trace", None)
        if callable(setter):
            setter(sink)        # also routes the devices' events through it
        else:
            self.m.trace = sink

    def clock(self):
        return self.m.clock

    def symbols(self):
        return getattr(self.m, "symbols", None)

    def code(self) -> tuple:
        img = getattr(self.m, "image", None)
        base = getattr(img, "load_addr", None) or getattr(img, "base", None)
        end = getattr(img, "load_end", None) or getattr(img, "end", None)
        if isinstance(base, int) and isinstance(end, int) and end > base:
            data = self.mem_read(base, end - base)
            if data is not None:
                return data, base
        data = getattr(img, "data", None) or getattr(img, "code", None)
        if isinstance(data, (bytes, bytearray)) and isinstance(base, int):
            return bytes(data), base
        return b"", 0

    def schedule(self, t: int, fn) -> bool:
        """Call ``fn(machine)`` when virtual time reaches ``t``; False when
        the machine has no schedule (a stand-in machine in tests)."""
        schedule = getattr(self.m, "schedule", None)
        if schedule is None:
            return False
        schedule(t, fn)
        return True

    # the PICs ---------------------------------------------------------------
    def line_of_vector(self, vector: int) -> Optional[int]:
        pic = self._pic()
        if pic is None:
            return None
        for attr, first in (("master", 0), ("slave", 8)):
            chip = getattr(pic, attr, None)
            base = getattr(chip, "irq_base", None) if chip is not None else None
            if isinstance(base, int) and base <= vector < base + 8:
                return first + vector - base
        return None

    def _pic(self):
        pic = getattr(self.m, "pic", None)
        if pic is not None:
            return pic
        devs = getattr(self.m, "devices", None)
        if isinstance(devs, dict):
            return devs.get("pic")
        for d in devs or ():
            if getattr(d, "name", None) == "pic":
                return d
        return None
