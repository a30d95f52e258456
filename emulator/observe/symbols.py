"""A tolerant view of an image's symbol table, for the observer and checkers.

Contract
--------
``Symbols(table)`` wraps whatever ``asm.symfile.load_symbols(image)`` (or the
machine's ``symbols``) returns — an object with ``addr(name)``,
``symbolize(addr)``, ``line_of(addr)``, ``constants()`` — and answers None
instead of raising when a name or address is unknown, so a plain multiboot
program without symbols is observed the same way, just with hex addresses.
``Symbols.empty()`` is the table of an image with none.

``frame(addr)`` formats one backtrace line: ``0x00101234 mutex_enter+0x12
(mutex.S:40)``.
"""

from __future__ import annotations

from typing import Optional


class Symbols:
    def __init__(self, table=None) -> None:
        self.table = table
        self._consts: Optional[dict] = None
        self._frames: dict = {}        # addr -> frame(addr): the table is fixed
        self._names: dict = {}         # addr -> symbolize(addr), likewise

    @classmethod
    def empty(cls) -> "Symbols":
        return cls(None)

    def __bool__(self) -> bool:
        if self.table is None:
            return False
        try:
            return len(self.table) > 0
        except TypeError:
            return True

    def addr(self, name: str) -> Optional[int]:
        if self.table is None:
            return None
        try:
            a = self.table.addr(name)
        except (KeyError, LookupError, ValueError):
            return None
        return a if isinstance(a, int) else None

    def symbolize(self, addr: int) -> Optional[str]:
        try:
            return self._names[addr]
        except KeyError:
            name = self._names[addr] = self._symbolize(addr)
            return name

    def _symbolize(self, addr: int) -> Optional[str]:
        if self.table is None:
            return None
        try:
            s = self.table.symbolize(addr)
        except (KeyError, LookupError, ValueError):
            return None
        if not s or s.startswith("0x"):     # asm.symfile's answer for "no label"
            return None
        return s

    def line_of(self, addr: int) -> Optional[str]:
        if self.table is None or not hasattr(self.table, "line_of"):
            return None
        try:
            loc = self.table.line_of(addr)
        except (KeyError, LookupError, ValueError):
            return None
        if loc is None:
            return None
        if isinstance(loc, tuple):
            return ":".join(str(x) for x in loc[:2])
        return str(loc)

    def constants(self) -> dict:
        if self._consts is None:
            c = {}
            if self.table is not None and hasattr(self.table, "constants"):
                try:
                    c = dict(self.table.constants())
                except (TypeError, ValueError):
                    c = {}
            self._consts = c
        return self._consts

    def const(self, name: str) -> Optional[int]:
        v = self.constants().get(name)
        if isinstance(v, int):
            return v
        return getattr(v, "value", None) if v is not None else None

    def frame(self, addr: int) -> str:
        text = self._frames.get(addr)
        if text is None:
            text = self._frames[addr] = self._frame(addr)
        return text

    def _frame(self, addr: int) -> str:
        s = self.symbolize(addr)
        loc = self.line_of(addr)
        text = f"{addr:#010x}"
        if s:
            text += f" {s}"
        if loc:
            text += f" ({loc})"
        return text

    def lines(self) -> list:
        """Addresses the line table knows (instruction starts), if it says."""
        t = self.table
        lt = getattr(t, "lines", None)
        if hasattr(lt, "entries"):
            return [row[0] for row in lt.entries()]
        for name in ("addresses", "line_addresses"):
            f = getattr(t, name, None)
            if callable(f):
                try:
                    return list(f())
                except (TypeError, ValueError):
                    return []
        lines = getattr(t, "lines", None)
        if isinstance(lines, dict):
            return list(lines)
        return []
