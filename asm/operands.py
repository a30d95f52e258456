"""Operands of one source line: comments, splitting, strings, and their checks.

The character-level reading that asm.source (the Reader) and asm.encoder /
asm.guard share, plus the checks on a directive's operands:

strip_comment(line, in_block) blanks `#` and `/* */` comments, keeping
columns; split_top(text, sep) splits at `sep` outside quotes, brackets and
parentheses, keeping each piece's column; string_end and parse_string read
a "double-quoted" string with C escapes into the source's own bytes;
check_ascii refuses a non-ASCII character outside strings.
directive_args(d, rest, ...) parses a directive's comma-separated
expressions and checks how many there are; read_incbin / incbin_slice read
an `.incbin` file and check its skip and count lie inside it.

Every refusal is an AsmError at its place (loc.error(message, column)),
never a Python error.  Nothing here keeps state; Loc is asm.errors'.
"""

from __future__ import annotations

import os
import re

from . import expr as X
from .errors import Loc


# a 'c' character literal (its quote is not a string's), as asm.expr reads it
CHAR_LITERAL = re.compile(r"'(\\x[0-9a-fA-F]{1,2}|\\[0-7]{1,3}|\\.|[^\\'])'")
MAX_IMAGE = 256 << 20      # bytes an image may store (.text + .data); asm.assembler checks


def strip_comment(line: str, in_block: bool) -> tuple[str, bool]:
    """Blank out comments (keeping columns); returns (text, still in /* */)."""
    out = []
    i, n, quote = 0, len(line), None
    while i < n:
        c = line[i]
        if in_block:
            if line.startswith("*/", i):
                in_block = False
                out.append("  ")
                i += 2
            else:
                out.append(" ")
                i += 1
            continue
        if quote:
            out.append(c)
            if c == "\\" and i + 1 < n:
                out.append(line[i + 1])
                i += 2
                continue
            if c == quote:
                quote = None
            i += 1
            continue
        if c == '"':
            quote = c
        elif c == "'" and CHAR_LITERAL.match(line, i):
            quote = c
        elif c == "#":
            break
        elif line.startswith("/*", i):
            in_block = True
            out.append("  ")
            i += 2
            continue
        out.append(c)
        i += 1
    return "".join(out), in_block


def split_top(text: str, sep: str, base: int = 0):
    """Split at `sep` outside quotes, brackets and parentheses.

    Returns [(piece, column offset of the piece's first non-blank)]."""
    parts, depth, quote, start = [], 0, None, 0
    i = 0
    while i < len(text):
        c = text[i]
        if quote:
            if c == "\\":
                i += 2
                continue
            if c == quote:
                quote = None
        elif c == '"' or (c == "'" and CHAR_LITERAL.match(text, i)):
            quote = c
        elif c in "([":
            depth += 1
        elif c in ")]":
            depth -= 1
        elif c == sep and depth <= 0:
            parts.append((text[start:i], start))
            start = i + 1
        i += 1
    parts.append((text[start:], start))
    out = []
    for piece, off in parts:
        lead = len(piece) - len(piece.lstrip())
        out.append((piece.strip(), base + off + lead))
    return out


def string_end(text: str, start: int = 0) -> int:
    """Index of the quote closing the string that opens at ``text[start]``, or -1."""
    quote, i = text[start], start + 1
    while i < len(text):
        if text[i] == "\\":
            i += 2
            continue
        if text[i] == quote:
            return i
        i += 1
    return -1


def parse_string(lit: str, loc: Loc, col: int) -> bytes:
    if not lit or lit[0] != '"':
        raise loc.error("expected a string in double quotes", col)
    end = string_end(lit)
    if end < 0:
        raise loc.error("unterminated string (no closing '\"'; a '\\\"' inside a string "
                        "is an escaped quote)", col)
    if end != len(lit) - 1:
        raise loc.error(f"unexpected text after the string: {lit[end + 1:].strip()!r}",
                        col + end + 1)
    body, out, i = lit[1:-1], bytearray(), 0
    while i < len(body):
        c = body[i]
        if c == "\\" and i + 1 < len(body):
            e = body[i + 1]
            if e == "x":
                m = re.match(r"[0-9a-fA-F]{1,2}", body[i + 2:])
                if not m:
                    raise loc.error("bad \\x escape", col + i + 1)
                out.append(int(m.group(), 16))
                i += 2 + len(m.group())
                continue
            if e in "01234567":
                m = re.match(r"[0-7]{1,3}", body[i + 1:])
                out.append(int(m.group(), 8) & 0xFF)
                i += 1 + len(m.group())
                continue
            out.append(X.ESCAPES.get(e, ord(e)))
            i += 2
            continue
        out += c.encode("utf-8", errors="surrogateescape")   # the source's bytes
        i += 1
    return bytes(out)


def check_ascii(line: str, loc: Loc):
    """A non-ASCII character outside strings (comments are already blank) is an error."""
    if line.isascii():
        return
    i = 0
    while i < len(line):
        c = line[i]
        if c == '"':
            end = string_end(line, i)
            if end < 0:
                return                 # the unterminated string is reported by its directive
            i = end + 1
            continue
        if not c.isascii():
            if 0xDC80 <= ord(c) <= 0xDCFF:       # a byte that was not UTF-8 (surrogateescape)
                what = f"byte {ord(c) - 0xDC00:#04x} (not UTF-8)"
            else:
                what = f"character {c!r} (U+{ord(c):04X})"
            raise loc.error(f"non-ASCII {what} outside a string or comment", i + 1)
        i += 1


def directive_args(d: str, rest: str, loc: Loc, argcol: int, min_n: int, max_n: int) -> list:
    """`rest` as min_n..max_n comma-separated expressions: [(Expr, column)]."""
    parts = split_top(rest, ",", argcol) if rest else []
    if not (min_n <= len(parts) <= max_n):
        want = f"{min_n}" if min_n == max_n else f"{min_n} to {max_n}"
        raise loc.error(f"{d} takes {want} argument(s), got {len(parts)}", argcol)
    out = []
    for text, c in parts:
        if not text:
            raise loc.error(f"empty argument to {d}", c)
        try:
            out.append((X.parse(text), c))
        except X.ExprError as err:
            raise loc.error(str(err), c + err.offset)
    return out


def read_incbin(path: str, name: str, loc: Loc, col: int) -> bytes:
    """The bytes of an `.incbin` file, refusing one larger than an image may be."""
    try:
        if os.path.getsize(path) > MAX_IMAGE:
            raise loc.error(f"'{name}' is larger than an image may be "
                            f"({MAX_IMAGE >> 20} MiB)", col)
        with open(path, "rb") as f:
            return f.read()
    except OSError as e:
        raise loc.error(f"cannot read '{name}': {e.strerror}", col) from None


def incbin_slice(data: bytes, nums: list, name: str, loc: Loc, col: int) -> bytes:
    """data[skip:skip + count] for `.incbin "f"[, skip[, count]]`; both must lie inside."""
    skip = nums[0] if nums else 0
    count = nums[1] if len(nums) > 1 else len(data) - skip
    if skip < 0 or count < 0 or skip + count > len(data):
        raise loc.error(f".incbin skip {skip} and count {count} do not lie inside "
                        f"'{name}' ({len(data)} bytes)", col)
    return data[skip:skip + count]
