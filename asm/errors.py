"""Errors the assembler reports to a user.

An AsmError names the place (file, line, column, all 1-based; line 0 means
"no particular line") and renders as the three lines a compiler prints:

    kernel.S:12:9: error: unknown mnemonic 'mvo'
        mvo eax, 1
        ^

The command line prints str(error) and exits 1; nothing else is shown.
"""

from __future__ import annotations

from dataclasses import dataclass


class AsmError(Exception):
    """A mistake in the assembly source (or in how the assembler was called)."""

    def __init__(self, message: str, file: str = "<input>", line: int = 0,
                 col: int = 1, source: str | None = None, note: str | None = None):
        self.message = message
        self.file = file
        self.line = line
        self.col = max(1, col)
        self.source = source
        self.note = note
        super().__init__(str(self))

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}:{self.col}" if self.line else self.file
        out = f"{where}: error: {self.message}"
        if self.source is not None and self.line:
            src = self.source.rstrip("\n")
            # Keep tabs under tabs so the caret lines up in a terminal.
            pad = "".join("\t" if ch == "\t" else " " for ch in src[:self.col - 1])
            out += f"\n    {src}\n    {pad}^"
        if self.note:
            out += f"\n    note: {self.note}"
        return out


def suggest(name: str, candidates) -> str:
    """', did you mean ...?' text for the closest names, or ''."""
    import difflib      # noqa: PLC0415 (mistakes only: 3 M instructions a start)
    close = difflib.get_close_matches(name, list(candidates), n=3, cutoff=0.6)
    if not close:
        return ""
    return "; did you mean " + ", ".join(f"'{c}'" for c in close) + "?"


@dataclass
class Loc:
    """Where a statement came from (asm.source and asm.operands use it)."""
    file: str          # path as shown to the user
    line: int
    src: str           # the whole physical source line
    note: str | None = None   # "in macro 'm' used at f:12"

    def error(self, message: str, col: int = 1) -> AsmError:
        return AsmError(message, self.file, self.line, col, self.src, self.note)
