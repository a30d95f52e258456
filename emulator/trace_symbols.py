"""Trace events whose addresses do not pin the image's layout.

Contract
--------
``Symbolizer(table)`` wraps an image's symbol table (an
``asm.symfile.SymbolTable``; ``Symbolizer.from_file(path)`` reads
``IMAGE.sym.json``, or the symbols beside an image ``kernel.elf``) and
``event(ev)`` returns the event with its addresses in a form that moving
code or data in the kernel does not change:

- ``eip``, and ``wchan``, ``arg``, ``word`` when they point into the image:
  ``symbol+0xoff``, the nearest label at or below (``cpu0+0x2c``,
  ``intr_hard+0x1f``); exactly on a label, the label's name (``td_lock``);
- ``esp``: ``OWNER top-0xOFF``, how far below the top of its stack it is.
  The stacks are the kernel's (guest_kernel/OBSERVE.md): LWP stack slot k
  of ``lwp_stacks`` (``STACK_SIZE`` each, ``NLWP`` of them), ``intr_stack``
  (``INTRSTACK_SIZE``), ``boot_stack``..``boot_stack_top``, AP k's slot of
  ``ap_stacks`` (``AP_STACK_SIZE``).  OWNER is the event's ``to`` (the
  observer's name for the stack's owner, ``lwp 3``) or else the stack's
  own (``lwp_stacks[3]``).  An ESP in no known stack gets the label form.

``t`` and every other field are kept exactly.  Values that are already
strings are left alone, so symbolising twice changes nothing (golden files
are stored symbolised: tests/golden).  An address outside the image — below
its first label or more than ``SLACK`` bytes past its last (the AP
trampoline at 0x8000, MMIO) — stays an integer.

``symbolize_events(events, symbolizer)`` is the same over a stream.
"""

from __future__ import annotations

import bisect
import os
from typing import Iterable, Iterator, Optional

from asm.symfile import from_symfile, load_symbols
from emulator.trace import TraceError

ADDRESS_FIELDS = ("eip", "wchan", "arg", "word")
SLACK = 0x1000          # past the last label: still the image (its last object)


class Symbolizer:
    def __init__(self, table) -> None:
        self.table = table
        labels = sorted(s.value for s in table.symbols.values() if s.kind == "label")
        self.lo = labels[0] if labels else None
        self.hi = labels[-1] + SLACK if labels else None
        self.stacks = sorted(_stacks(table))          # (lo, hi, name)
        self._stack_los = [lo for lo, _, _ in self.stacks]

    @classmethod
    def from_file(cls, path: str) -> "Symbolizer":
        """From IMAGE.sym.json, or the symbols of an image (kernel.elf)."""
        try:
            if path.endswith(".json"):
                return cls(from_symfile(path))
            if not os.path.isfile(path):
                raise FileNotFoundError(2, "no such file")
            return cls(load_symbols(path))
        except OSError as err:
            reason = err.strerror or str(err)
            raise TraceError(f"{path}: cannot read symbols: {reason}") from None
        except (ValueError, KeyError, TypeError) as err:
            raise TraceError(f"{path}: not a symbol file ({err})") from None

    # ---------------------------------------------------------------- forms
    def address(self, addr: int):
        """``symbol+0xoff`` for an address inside the image, else ``addr``."""
        if self.lo is None or not self.lo <= addr <= self.hi:
            return addr
        return self.table.symbolize(addr)

    def stack(self, esp: int, owner: Optional[str] = None):
        """``OWNER top-0xOFF`` for an ESP inside a known stack, else the label form."""
        i = bisect.bisect_left(self._stack_los, esp) - 1
        while i >= 0:
            lo, hi, name = self.stacks[i]
            if lo < esp <= hi:          # ESP == hi: the empty stack is this one's
                return f"{owner or name} top-{hi - esp:#x}"
            i -= 1
            if hi < esp:
                break
        return self.address(esp)

    def event(self, ev: dict) -> dict:
        out = None
        for k in ADDRESS_FIELDS:
            v = ev.get(k)
            if v.__class__ is int:
                s = self.address(v)
                if s is not v:
                    out = out or dict(ev)
                    out[k] = s
        v = ev.get("esp")
        if v.__class__ is int:
            out = out or dict(ev)
            out["esp"] = self.stack(v, ev.get("to"))
        return ev if out is None else out


def symbolize_events(events: Iterable[dict], symbolizer: Symbolizer) -> Iterator[dict]:
    for ev in events:
        yield symbolizer.event(ev)


def _stacks(table) -> list:
    """The kernel's stacks (lo, hi, name) from its exported symbols."""
    def get(name):
        s = table.symbols.get(name)
        return s.value if s is not None else None

    out = []
    for base, size, count, name in (("lwp_stacks", "STACK_SIZE", "NLWP", "lwp_stacks"),
                                    ("ap_stacks", "AP_STACK_SIZE", "MAX_CPUS", "ap_stacks")):
        b, s, n = get(base), get(size), get(count)
        if b is not None and s and n:
            out += [(b + k * s, b + (k + 1) * s, f"{name}[{k}]") for k in range(n)]
    b, s = get("intr_stack"), get("INTRSTACK_SIZE")
    if b is not None and s:
        out.append((b, b + s, "intr_stack"))
    lo, hi = get("boot_stack"), get("boot_stack_top")
    if lo is not None and hi is not None and hi > lo:
        out.append((lo, hi, "boot_stack"))
    return out
