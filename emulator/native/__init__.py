"""The native block hook (blockhook.c), loaded with ctypes.

``python -m emulator.native build`` compiles blockhook.c with gcc into
``_blockhook.so`` next to it (the Makefile's install runs it; without a
compiler it says so and exits 0, and the machine uses its Python hook).
``load_block_hook(uc, miss)`` returns a ``NativeHook`` whose ``state``
(a ctypes struct with the fields of ``emulator.icount.HookState``) the
machine uses as the CPU's counters, or raises OSError when the library is
not built; ``miss(addr, size)`` is called for a block not in the hook's
cache (emulator/icount.py ``InstructionClock.block_count``); a block entered
again at an address with another size is always a miss (blockhook.c: the
cache's slot depends on the address alone).
``available()`` tells whether it is.
``NativeHook.call_hook(uc, fn, begin, end)`` adds ``fn(address, size)`` as
an exec hook through ``bh_call``, which first reads the registers
``capture_ids`` named (given to the hook's constructor) into
``NativeHook.captured``, a ctypes array in that order;
``NativeHook.port_hook(uc, fn, out)`` does the same for every ``in``
(``fn(port, size) -> value``, through ``bh_in``) or ``out`` (``fn(port,
size, value)``, ``bh_out``).  ``can_call`` is false for a library built
before those: the caller then adds its hooks the binding's way.

Files: blockhook.c (the hook, C), __init__.py (loading it), __main__.py
(``build``).
"""

from __future__ import annotations

import ctypes
from pathlib import Path

import unicorn
from unicorn import x86_const as X
from unicorn.unicorn_py3.unicorn import uclib

HERE = Path(__file__).resolve().parent
SOURCE = HERE / "blockhook.c"
LIBRARY = HERE / "_blockhook.so"
CACHE_SIZE = 1 << 16


class Entry(ctypes.Structure):
    _fields_ = [("addr", ctypes.c_uint64), ("size", ctypes.c_uint32), ("n", ctypes.c_uint32)]


MISS = ctypes.CFUNCTYPE(ctypes.c_uint32, ctypes.c_uint64, ctypes.c_uint32)
CALL = ctypes.CFUNCTYPE(None, ctypes.c_uint64, ctypes.c_uint32)
IN = ctypes.CFUNCTYPE(ctypes.c_uint32, ctypes.c_uint32, ctypes.c_int)
OUT = ctypes.CFUNCTYPE(None, ctypes.c_uint32, ctypes.c_int, ctypes.c_uint32)
CAPTURE_MAX = 16


class Capture(ctypes.Structure):
    _fields_ = [("read_batch", ctypes.c_void_p), ("n", ctypes.c_int32),
                ("ids", ctypes.c_int32 * CAPTURE_MAX), ("ptrs", ctypes.c_void_p * CAPTURE_MAX),
                ("vals", ctypes.c_uint64 * CAPTURE_MAX)]


class Call(ctypes.Structure):
    _fields_ = [("capture", ctypes.c_void_p), ("fn", ctypes.c_void_p)]


class State(ctypes.Structure):
    _fields_ = [("now", ctypes.c_int64), ("block_start", ctypes.c_int64),
                ("deadline", ctypes.c_int64), ("cur_block", ctypes.c_uint64),
                ("last_block", ctypes.c_uint64), ("skip_addr", ctypes.c_int64),
                ("last_post", ctypes.c_uint64), ("flags", ctypes.c_uint32), ("eflags_reg", ctypes.c_int32),
                ("emu_stop", ctypes.c_void_p), ("reg_read", ctypes.c_void_p),
                ("miss", ctypes.c_void_p), ("cache", Entry * CACHE_SIZE)]


_lib = None


def available() -> bool:
    return LIBRARY.exists()


def _library():
    global _lib
    if _lib is None:
        if not LIBRARY.exists():
            raise OSError(f"{LIBRARY} is not built (python -m emulator.native build)")
        _lib = ctypes.CDLL(str(LIBRARY))
        _lib.bh_clear.argtypes = [ctypes.c_void_p]
    return _lib


class NativeHook:
    """One engine's C block hook and its state."""

    def __init__(self, uc, miss, capture_ids=()) -> None:
        self.lib = _library()
        self.uclib = uclib
        self.state = State()
        self.state.deadline = 1 << 62
        self.state.skip_addr = -1
        self.state.eflags_reg = X.UC_X86_REG_EFLAGS
        self.state.emu_stop = ctypes.cast(uclib.uc_emu_stop, ctypes.c_void_p).value
        self.state.reg_read = ctypes.cast(uclib.uc_reg_read, ctypes.c_void_p).value
        self._miss = MISS(miss)
        self.state.miss = ctypes.cast(self._miss, ctypes.c_void_p).value
        self.clear_cache()          # empty entries: an all-zero one would match (0, size 0)
        self._hooks = []
        self._add(uc, unicorn.UC_HOOK_BLOCK, self.lib.bh_block, 1, 0)
        # the registers bh_call reads before an exec hook (zeros above a
        # narrower register's bytes stay zeros: each slot holds one register)
        if len(capture_ids) > CAPTURE_MAX:
            raise ValueError(f"at most {CAPTURE_MAX} registers are captured")
        self.capture = Capture()
        self.capture.read_batch = ctypes.cast(uclib.uc_reg_read_batch, ctypes.c_void_p).value
        self.capture.n = len(capture_ids)
        base = ctypes.addressof(self.capture) + Capture.vals.offset
        for i, regid in enumerate(capture_ids):
            self.capture.ids[i] = regid
            self.capture.ptrs[i] = base + 8 * i
        self.captured = self.capture.vals       # a view of the struct's memory
        self._call = getattr(self.lib, "bh_call", None)
        # False for a library built before bh_call (bh_in, bh_out came with it)
        self.can_call = self._call is not None and hasattr(self.lib, "bh_out")

    def call_hook(self, uc, fn, begin: int, end: int) -> int:
        """``fn(address, size)`` before each instruction in ``[begin, end]``,
        the registers read first (module docstring); its handle, which
        ``uc.hook_del`` removes (``can_call`` must be true)."""
        return self._call_hook(uc, unicorn.UC_HOOK_CODE, self._call, CALL(fn),
                               ctypes.c_uint64(begin), ctypes.c_uint64(end))

    def port_hook(self, uc, fn, out: bool) -> int:
        """``fn(port, size) -> value`` at every ``in`` (``fn(port, size,
        value)`` at every ``out``), the registers read first."""
        insn = X.UC_X86_INS_OUT if out else X.UC_X86_INS_IN
        return self._call_hook(uc, unicorn.UC_HOOK_INSN, self.lib.bh_out if out else self.lib.bh_in,
                               (OUT if out else IN)(fn), ctypes.c_uint64(1), ctypes.c_uint64(0),
                               ctypes.c_int(insn))

    def _call_hook(self, uc, kind, trampoline, cfn, *args) -> int:
        call = Call()
        call.capture = ctypes.addressof(self.capture)
        call.fn = ctypes.cast(cfn, ctypes.c_void_p).value
        h = ctypes.c_size_t()
        err = self.uclib.uc_hook_add(uc._uch, ctypes.byref(h), kind,
                                     ctypes.cast(trampoline, ctypes.c_void_p),
                                     ctypes.c_void_p(ctypes.addressof(call)), *args)
        if err:
            raise unicorn.UcError(err)
        # kept alive with the binding's own callbacks: its hook_del drops them
        uc._callbacks[h.value] = (call, cfn)
        return h.value

    def add_stop_hook(self, uc, addr: int):
        """A code hook that stops before ``addr``; returns its handle."""
        self._add(uc, unicorn.UC_HOOK_CODE, self.lib.bh_stop_here, addr, addr)
        return self._hooks.pop()

    def remove_hook(self, uc, handle) -> None:
        self.uclib.uc_hook_del(uc._uch, handle)

    def _add(self, uc, kind, fn, begin, end) -> None:
        h = ctypes.c_size_t()
        err = self.uclib.uc_hook_add(uc._uch, ctypes.byref(h), kind,
                                     ctypes.cast(fn, ctypes.c_void_p),
                                     ctypes.c_void_p(ctypes.addressof(self.state)), begin, end)
        if err:
            raise OSError(f"uc_hook_add failed ({err})")
        self._hooks.append(h)

    def add_post_io_hook(self, uc, addr: int) -> None:
        self._add(uc, unicorn.UC_HOOK_CODE, self.lib.bh_post_io, addr, addr)

    def clear_cache(self) -> None:
        self.lib.bh_clear(ctypes.byref(self.state))


def load_block_hook(uc, miss, capture_ids=()) -> NativeHook:
    return NativeHook(uc, miss, capture_ids)
