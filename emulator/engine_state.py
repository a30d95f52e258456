"""Two fields of QEMU's CPU state that Unicorn keeps but does not expose.

Unicorn replaces QEMU's interrupt delivery (do_interrupt_all) by
UC_HOOK_INTR, which hands over the vector only.  Two fields of the CPU
state (CPUX86State, saved whole by ``uc.context_save``) matter to the
machine that delivers instead:

* ``old_exception`` -- QEMU remembers the last contributory exception to
  turn a second one into #DF and forgets it only in do_interrupt_all.  Left
  alone, a #GP long after a handled #DE reaches the hook as #DF, so after
  each delivery the machine resets it (``reset_exception_chain``).
* ``error_code`` -- what raise_exception_err stored for the exception being
  reported: the selector of a segment fault, the page-fault error code
  (P, W/R, U/S, RSVD, I/D) of a #PF that Unicorn's own page walk raised.
  ``exception_error_code(uc)`` reads it.

Their offsets in the saved context are found once per process on a scratch
engine, by provoking exceptions whose effect on the field is known and
diffing contexts; tests/emulator/test_unicorn_facts.py pins both.  When a
search fails (another Unicorn build) the reset does nothing and the error
code is None, and the machine falls back to decoding the instruction.
"""

from __future__ import annotations

import ctypes
import struct
from typing import Optional

import unicorn
from unicorn import x86_const as X

VEC_GP = 13
_offsets: dict = {}


def _ptr(ctx) -> int:
    return ctypes.cast(ctx.context, ctypes.c_void_p).value


def _scratch():
    uc = unicorn.Uc(unicorn.UC_ARCH_X86, unicorn.UC_MODE_32)
    uc.mem_map(0, 0x2000)
    uc.mem_write(0x1000, b"\xf7\xf1\xf7\xf1\x8e\xd8")       # div ecx; div ecx; mov ds, ax
    seen = []
    uc.hook_add(unicorn.UC_HOOK_INTR, lambda u, n, d: (seen.append(n), u.emu_stop()))
    return uc, seen


def _find_old_exception_offset() -> Optional[int]:
    uc, seen = _scratch()
    before = bytes(uc.context_save())
    uc.emu_start(0x1000, 0x1006)
    after = bytes(uc.context_save())
    candidates = [i for i in range(0, len(before) - 3, 4)
                  if before[i:i + 4] == b"\xff\xff\xff\xff" and after[i:i + 4] == b"\0\0\0\0"]
    for off in candidates:
        ctx = uc.context_save()
        ctypes.memmove(_ptr(ctx) + off, b"\xff\xff\xff\xff", 4)
        uc.context_restore(ctx)
        seen.clear()
        uc.reg_write(X.UC_X86_REG_EAX, 0x0803)
        uc.emu_start(0x1004, 0x1006)          # mov ds with a bad selector: #GP, not #DF
        if seen == [VEC_GP]:
            return off
    return None


def _find_error_code_offset() -> Optional[int]:
    """The offset holding 0x800, 0x2a08, 0x1000 after #GPs on selectors
    0x0803, 0x2a0b, 0x1003 (each past the scratch GDT's limit)."""
    uc, seen = _scratch()
    found = None
    for sel in (0x0803, 0x2A0B, 0x1003):
        reset_exception_chain(uc)
        uc.reg_write(X.UC_X86_REG_EAX, sel)
        seen.clear()
        uc.emu_start(0x1004, 0x1006)
        if seen != [VEC_GP]:
            return None
        raw = bytes(uc.context_save())
        here = {i for i in range(0, len(raw) - 3, 4)
                if struct.unpack_from("<I", raw, i)[0] == sel & 0xFFFC}
        found = here if found is None else found & here
    return min(found) if found else None


def _offset(name: str, finder) -> Optional[int]:
    if name not in _offsets:
        _offsets[name] = finder()
    return _offsets[name]


def reset_exception_chain(uc) -> None:
    """Make the engine forget the exception it just reported (see above)."""
    off = _offset("old_exception", _find_old_exception_offset)
    if off is None:
        return
    ctx = uc.context_save()
    ctypes.memmove(_ptr(ctx) + off, b"\xff\xff\xff\xff", 4)
    uc.context_restore(ctx)


def exception_error_code(uc) -> Optional[int]:
    """The error code QEMU stored with the exception just reported (None:
    the field was not found in this Unicorn build)."""
    off = _offset("error_code", _find_error_code_offset)
    if off is None:
        return None
    return struct.unpack_from("<I", bytes(uc.context_save()), off)[0]
