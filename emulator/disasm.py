"""x86 instruction text and lengths from libcapstone, without importing capstone.

Contract
--------
``Disasm(mode16=False)`` decodes 32-bit (or 16-bit) x86 code;
``lite(code, address, count=0)`` returns what capstone's
``Cs(CS_ARCH_X86, mode).disasm_lite(code, address, count)`` yields, as a
list: ``(address, size, mnemonic, op_str)`` per instruction, stopping at the
first bytes that do not decode.  It is the same library call (``cs_disasm``
without operand detail) on the same shared library.
``find(code, address, words)`` decodes as ``lite`` does but returns every
instruction's address and size and, in full, only the instructions whose
text contains one of ``words`` (the observer's sweep: most instructions
are never turned into strings).

Why: ``import capstone`` costs about 80 ms of a 0.3 s ``run`` (it imports
every architecture's constants, ``inspect`` and ``ctypes.util``, and finds
its library through ``importlib.resources``); the machine and the observer's
sweep need only instruction lengths and text.  This module opens the
library the capstone package ships (found without running its
``__init__``), checks its API version is the one whose ``cs_insn`` layout is
declared here (5.0), and otherwise falls back to the capstone package
itself.  tests/emulator/test_disasm.py compares the two on the kernels'
code and on random bytes.
"""

from __future__ import annotations

import ctypes
import importlib.util
import os
import struct
from typing import Optional

CS_ARCH_X86 = 3
CS_MODE_16 = 1 << 1
CS_MODE_32 = 1 << 2
API = (5, 0)                # the cs_insn layout below is capstone 5's


class _Insn(ctypes.Structure):
    """capstone 5's cs_insn (the detail pointer is not followed)."""
    _fields_ = (("id", ctypes.c_uint), ("address", ctypes.c_uint64), ("size", ctypes.c_uint16),
                ("bytes", ctypes.c_ubyte * 24), ("mnemonic", ctypes.c_char * 32),
                ("op_str", ctypes.c_char * 160), ("detail", ctypes.c_void_p))


# ``find`` copies the cs_insn array out in one call and reads it as bytes:
# the observer's sweep decodes ~6,000 instructions at every start, and most
# of them need no text.
_SIZE = ctypes.sizeof(_Insn)
_ROW = struct.Struct("<%dxQH%dx%ds%ds%dx" % (
    _Insn.address.offset, _Insn.mnemonic.offset - _Insn.bytes.offset,
    _Insn.mnemonic.size, _Insn.op_str.size, _SIZE - _Insn.op_str.offset - _Insn.op_str.size))
assert _Insn.size.offset == _Insn.address.offset + 8 and _Insn.bytes.offset == _Insn.size.offset + 2
assert _Insn.op_str.offset == _Insn.mnemonic.offset + _Insn.mnemonic.size and _ROW.size == _SIZE
_TEXT = ((_Insn.mnemonic.offset, _Insn.mnemonic.offset + _Insn.mnemonic.size),
         (_Insn.op_str.offset, _Insn.op_str.offset + _Insn.op_str.size))


def _text(b: bytes) -> str:
    """A C string field: up to its first NUL (as ctypes' c_char arrays read it)."""
    return b.partition(b"\0")[0].decode("ascii")


def _column(raw: bytes, offset: int, fmt: str) -> list:
    """One numeric field of every cs_insn in ``raw``."""
    width = struct.calcsize(fmt)
    if offset % width == 0 and _SIZE % width == 0:      # a strided view: no Python per row
        return memoryview(raw).cast(fmt)[offset // width::_SIZE // width].tolist()
    field = struct.Struct(f"<{offset}x{fmt}{_SIZE - offset - width}x")
    return [v for (v,) in field.iter_unpack(raw)]


_lib = None                 # the CDLL, or False when the package must be used


def _library():
    """libcapstone as the capstone package ships it, or None (use the package)."""
    global _lib
    if _lib is None:
        _lib = _open() or False
    return _lib or None


def _open():
    spec = importlib.util.find_spec("capstone")       # finds it; does not run it
    dirs = list(spec.submodule_search_locations or ()) if spec is not None else []
    for d in dirs:
        path = os.path.join(d, "lib", "libcapstone.so")
        if not os.path.isfile(path):
            continue
        try:
            lib = ctypes.CDLL(path)
        except OSError:
            return None
        major, minor = ctypes.c_int(), ctypes.c_int()
        lib.cs_version.restype = ctypes.c_int
        lib.cs_version(ctypes.byref(major), ctypes.byref(minor))
        if (major.value, minor.value) != API:
            return None
        lib.cs_open.restype = ctypes.c_int
        lib.cs_open.argtypes = (ctypes.c_uint, ctypes.c_uint, ctypes.POINTER(ctypes.c_size_t))
        lib.cs_disasm.restype = ctypes.c_size_t
        lib.cs_disasm.argtypes = (ctypes.c_size_t, ctypes.c_char_p, ctypes.c_size_t,
                                  ctypes.c_uint64, ctypes.c_size_t,
                                  ctypes.POINTER(ctypes.POINTER(_Insn)))
        lib.cs_free.restype = None
        lib.cs_free.argtypes = (ctypes.c_void_p, ctypes.c_size_t)
        lib.cs_errno.restype = ctypes.c_int
        lib.cs_errno.argtypes = (ctypes.c_size_t,)
        return lib
    return None


class Disasm:
    """One decoder (see the module docstring)."""

    def __init__(self, mode16: bool = False) -> None:
        self.mode = CS_MODE_16 if mode16 else CS_MODE_32
        self._lib = _library()
        self._cs: Optional[object] = None
        if self._lib is None:
            # another capstone than the one this file knows: its own binding
            import capstone     # noqa: PLC0415 (only then: it costs 80 ms to import)
            self._cs = capstone.Cs(capstone.CS_ARCH_X86, self.mode)
            return
        self._handle = ctypes.c_size_t()
        if self._lib.cs_open(CS_ARCH_X86, self.mode, ctypes.byref(self._handle)) != 0:
            raise OSError("libcapstone: cs_open failed for x86")
        self._insns = ctypes.POINTER(_Insn)()
        self._pinsns = ctypes.byref(self._insns)

    def lite(self, code: bytes, address: int, count: int = 0) -> list:
        if self._cs is not None:
            return list(self._cs.disasm_lite(code, address, count))
        lib = self._lib
        n = self._disasm(code, address, count)
        insns = self._insns
        try:
            return [(i.address, i.size, i.mnemonic.decode("ascii"), i.op_str.decode("ascii"))
                    for i in (insns[k] for k in range(n))]
        finally:
            if n:
                lib.cs_free(insns, n)

    def find(self, code: bytes, address: int, words) -> tuple:
        """What ``lite(code, address)`` decodes, reading the text only where
        it may matter: ``(addresses, sizes, hits)``, every instruction's
        address and size, and ``lite``'s tuple of each instruction whose
        mnemonic or operands contain one of ``words`` (strings), in order."""
        if self._cs is not None:
            insns = self.lite(code, address)
            return ([i[0] for i in insns], [i[1] for i in insns],
                    [i for i in insns if any(w in i[2] or w in i[3] for w in words)])
        n = self._disasm(code, address, 0)
        if n == 0:
            return [], [], []
        try:
            raw = ctypes.string_at(self._insns, n * _SIZE)
        finally:
            self._lib.cs_free(self._insns, n)
        rows: set = set()
        for word in words:          # bytes.find runs in C over the whole array
            w = word.encode("ascii")
            pos = raw.find(w)
            while pos >= 0:
                row, off = divmod(pos, _SIZE)
                for lo, hi in _TEXT:
                    if lo <= off < hi:
                        end = raw.find(b"\0", row * _SIZE + lo, row * _SIZE + hi)
                        if pos + len(w) <= (end if end >= 0 else row * _SIZE + hi):
                            rows.add(row)
                pos = raw.find(w, pos + 1)
        hits = [_ROW.unpack_from(raw, row * _SIZE) for row in sorted(rows)]
        return (_column(raw, _Insn.address.offset, "Q"), _column(raw, _Insn.size.offset, "H"),
                [(a, size, _text(m), _text(o)) for a, size, m, o in hits])

    def _disasm(self, code: bytes, address: int, count: int) -> int:
        """``cs_disasm`` into ``self._insns``: the count decoded (0: none, nothing to free)."""
        code = bytes(code)
        n = self._lib.cs_disasm(self._handle.value, code, len(code), address, count, self._pinsns)
        if n == 0:
            err = self._lib.cs_errno(self._handle.value)
            if err:             # as capstone's CsError: not "nothing decodes here"
                raise OSError(f"libcapstone: cs_disasm failed (error {err})")
        return n
