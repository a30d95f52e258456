"""Locations and expressions typed at the debugger.

Contract
--------
``evaluate(text, env) -> int`` and ``location(text, env) -> int`` where
``env`` offers ``reg(name) -> int`` (KeyError for an unknown register),
``symbol(name) -> int`` (KeyError with a hint), ``read_u32(addr) -> int``
and ``line_addr(file, line) -> int`` (KeyError when no code is there).

Grammar (C precedence, all values are Python ints, results masked to 32 bits
by the callers that need an address):

    expr    := or ( '||' or )*            comparisons give 0 or 1
    ...     := the C binary operators  && | ^ & == != < > <= >= << >> + - * / %
    unary   := '-' unary | '~' unary | '!' unary | '*' unary  (32-bit load)
    primary := NUMBER | $REG | SYMBOL | '(' expr ')'

Numbers: 0x1f, 0b101, 0o17, 123.  ``$sp``/``$fp`` name ESP, EBP; ``$pc`` is
``env.reg("pc")``, the linear address of the next instruction (EIP in flat
protected mode, CS base + IP in real mode).
A location is an expression, ``*EXPR`` (as in gdb's ``break *0x8000``: the
address itself; ``*`` is not a load there), or ``FILE:LINE`` (the first
address the assembler emitted for that source line; FILE may be a suffix of
the path).
Every error is an ``ExprError`` with a one-line message.
"""

from __future__ import annotations

import re

__all__ = ["ExprError", "evaluate", "location", "tokenize"]


class ExprError(Exception):
    pass


_TOKEN = re.compile(r"""
    \s*(?:
      (?P<num>0[xX][0-9a-fA-F]+|0[bB][01]+|0[oO][0-7]+|\d+)
    | (?P<reg>\$[A-Za-z_][A-Za-z0-9_]*)
    | (?P<name>[A-Za-z_.][A-Za-z0-9_.$@]*)
    | (?P<op>\|\||&&|==|!=|<=|>=|<<|>>|[-+*/%&|^~!<>()])
    )""", re.X)

_ALIASES = {"sp": "esp", "fp": "ebp"}

_BINARY = [  # lowest precedence first
    ("||",), ("&&",), ("|",), ("^",), ("&",), ("==", "!="), ("<", ">", "<=", ">="),
    ("<<", ">>"), ("+", "-"), ("*", "/", "%"),
]


def tokenize(text: str) -> list:
    out, pos = [], 0
    text = text.rstrip()
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if not m or m.end() == pos:
            raise ExprError(f"cannot read '{text[pos:].strip()}' in '{text}'")
        kind = m.lastgroup
        out.append((kind, m.group(kind)))
        pos = m.end()
    return out


class _Parser:
    def __init__(self, text, env):
        self.text, self.env = text, env
        self.toks = tokenize(text)
        self.i = 0

    def peek(self):
        return self.toks[self.i] if self.i < len(self.toks) else (None, None)

    def take(self):
        t = self.peek()
        self.i += 1
        return t

    def parse(self):
        if not self.toks:
            raise ExprError("an expression is needed")
        v = self.binary(0)
        if self.i != len(self.toks):
            raise ExprError(f"unexpected '{self.peek()[1]}' in '{self.text}'")
        return v

    def binary(self, level):
        if level == len(_BINARY):
            return self.unary()
        v = self.binary(level + 1)
        while self.peek()[0] == "op" and self.peek()[1] in _BINARY[level]:
            op = self.take()[1]
            w = self.binary(level + 1)
            v = _apply(op, v, w)
        return v

    def unary(self):
        kind, val = self.peek()
        if kind == "op" and val in "-~!*+":
            self.take()
            v = self.unary()
            if val == "-":
                return -v
            if val == "~":
                return ~v & 0xFFFFFFFF
            if val == "!":
                return int(not v)
            if val == "+":
                return v
            return self.env.read_u32(v & 0xFFFFFFFF)
        return self.primary()

    def primary(self):
        kind, val = self.take()
        if kind == "num":
            return int(val, 0)
        if kind == "reg":
            name = val[1:].lower()
            try:
                return self.env.reg(_ALIASES.get(name, name))
            except KeyError:
                raise ExprError(f"no register '{val}'") from None
        if kind == "name":
            try:
                return self.env.symbol(val)
            except KeyError as e:
                raise ExprError(str(e.args[0]) if e.args else val) from None
        if kind == "op" and val == "(":
            v = self.binary(0)
            if self.take() != ("op", ")"):
                raise ExprError(f"missing ')' in '{self.text}'")
            return v
        if kind is None:
            raise ExprError(f"'{self.text}' ends too early")
        raise ExprError(f"unexpected '{val}' in '{self.text}'")


def _apply(op, a, b):
    if op in ("/", "%") and b == 0:
        raise ExprError("division by zero")
    if op in ("<<", ">>"):
        if b < 0:
            raise ExprError(f"negative shift count {b}")
        if b >= 64:             # as in 64-bit arithmetic (gdb's): every bit shifted out
            return -1 if op == ">>" and a < 0 else 0
    return {
        "||": lambda: int(bool(a) or bool(b)), "&&": lambda: int(bool(a) and bool(b)),
        "|": lambda: a | b, "^": lambda: a ^ b, "&": lambda: a & b,
        "==": lambda: int(a == b), "!=": lambda: int(a != b),
        "<": lambda: int(a < b), ">": lambda: int(a > b),
        "<=": lambda: int(a <= b), ">=": lambda: int(a >= b),
        "<<": lambda: a << b, ">>": lambda: a >> b,
        "+": lambda: a + b, "-": lambda: a - b, "*": lambda: a * b,
        "/": lambda: a // b, "%": lambda: a % b,
    }[op]()


def evaluate(text: str, env) -> int:
    return _Parser(text, env).parse()


_FILE_LINE = re.compile(r"^\s*([^\s:]+):(\d+)\s*$")


def location(text: str, env) -> int:
    """An address: FILE:LINE, ``*EXPR`` (gdb's "the address EXPR", not a
    load from it) or an expression (masked to 32 bits)."""
    if text.lstrip().startswith("*"):
        return evaluate(text.lstrip()[1:], env) & 0xFFFFFFFF
    m = _FILE_LINE.match(text)
    if m:
        try:
            return env.line_addr(m.group(1), int(m.group(2)))
        except KeyError as e:
            raise ExprError(str(e.args[0]) if e.args else text) from None
    return evaluate(text, env) & 0xFFFFFFFF
