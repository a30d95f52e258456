"""Integer expressions: the one evaluator for data, constants, .if and operands.

parse(text) -> Expr; Expr.eval(lookup, here) -> int, where lookup(name)
gives a symbol's value (raising KeyError when it has none yet) and `here`
is the current address (`.` or `$`).  Expr.names is the set of symbols the
expression uses, so callers can tell constants from label arithmetic.

Syntax (C precedence, lowest first): || && | ^ & (== !=) (< <= > >=)
(<< >>) (+ -) (* / %) and unary - + ~ !.  Numbers: 123, 0x7f, 0b101, 017
(octal, as keystone and GAS read a leading 0), 0ffh; 'c' character
literals with C escapes; `defined(NAME)`.  Division truncates toward zero.
Identifiers: [A-Za-z_.@][A-Za-z0-9_.@]* (the assembler rewrites numeric
local labels `1b`/`1f` to internal names starting with '@').

Limits (each an ExprError, never a Python error): a number must fit in 64
bits (and be a valid number: `09` is a bad octal number), shift counts are
0..63, a value must stay within 64 bits, parentheses and unary operators
nest at most MAX_NESTING deep and an expression has at most MAX_TOKENS
tokens (so parsing and evaluation stay far from Python's recursion limit).
"""

from __future__ import annotations

import re

TOKEN = re.compile(r"""
    \s*(?:
      (?P<num>0[xX][0-9a-fA-F]+|0[bB][01]+|[0-9][0-9a-fA-F]*[hH](?![\w.@])|[0-9]+)
     |(?P<char>'(?:\\x[0-9a-fA-F]{1,2}|\\[0-7]{1,3}|\\.|[^\\'])')
     |(?P<id>[A-Za-z_.@][\w.@]*|\$)
     |(?P<op><<|>>|<=|>=|==|!=|&&|\|\||[-+*/%&|^~!()<>])
    )""", re.X)

ESCAPES = {"n": 10, "t": 9, "r": 13, "0": 0, "\\": 92, "'": 39, '"': 34,
           "a": 7, "b": 8, "f": 12, "v": 11, "e": 27}

MAX_NESTING = 32          # parentheses and unary operators inside each other
MAX_TOKENS = 300          # a longer expression is a mistake, not a program
MAX_NUMBER_CHARS = 70     # 0b + 64 binary digits, with room to spare
VALUE_LIMIT = 1 << 64     # |value| must stay below this

BINARY = [  # precedence levels, lowest first
    ("||",), ("&&",), ("|",), ("^",), ("&",), ("==", "!="),
    ("<", "<=", ">", ">="), ("<<", ">>"), ("+", "-"), ("*", "/", "%"),
]


class ExprError(Exception):
    """Bad expression; .offset is the column (0-based) inside the text.

    .certain is True for mistakes whatever the syntax around them (a bad
    number or escape, an expression too long or too deep): callers that try
    asm.expr first and fall back to keystone's syntax report these instead."""

    def __init__(self, message: str, offset: int = 0, certain: bool = False):
        super().__init__(message)
        self.offset = offset
        self.certain = certain


def parse_number(text: str, offset: int = 0) -> int:
    """The value of a number token; ExprError (at ``offset``) if it is not one."""
    if len(text) > MAX_NUMBER_CHARS:
        raise ExprError(f"number '{text[:12]}...' ({len(text)} characters) does not fit in "
                        "64 bits", offset, certain=True)
    t = text.lower()
    if t.startswith("0x"):
        digits, base = t[2:], 16
    elif t.startswith("0b"):
        digits, base = t[2:], 2
    elif t.endswith("h"):
        digits, base = t[:-1], 16
    elif len(t) > 1 and t.startswith("0"):
        digits, base = t, 8
    else:
        digits, base = t, 10
    try:
        if "_" in digits or not digits:          # int() would take 1_000
            raise ValueError(text)
        value = int(digits, base)
    except ValueError:
        what = {16: "hexadecimal", 2: "binary", 8: "octal", 10: "decimal"}[base]
        hint = " (a leading 0 means octal)" if base == 8 else ""
        raise ExprError(f"bad {what} number '{text}'{hint}", offset, certain=True) from None
    if value >= VALUE_LIMIT:
        raise ExprError(f"number '{text}' does not fit in 64 bits", offset, certain=True)
    return value


def char_value(lit: str, offset: int = 0) -> int:
    body = lit[1:-1]
    if body.startswith("\\"):
        esc = body[1:]
        if esc[0] == "x":
            if len(esc) == 1:
                raise ExprError("'\\x' needs hexadecimal digits ('\\x41')", offset, certain=True)
            return int(esc[1:], 16)
        if esc[0] in "01234567" and (len(esc) > 1 or esc == "0"):
            return int(esc, 8)
        return ESCAPES.get(esc, ord(esc))
    return ord(body)


def tokenize(text: str):
    pos, out = 0, []
    while pos < len(text):
        if text[pos:].strip() == "":
            break
        m = TOKEN.match(text, pos)
        if not m:
            start = pos + (len(text[pos:]) - len(text[pos:].lstrip()))
            raise ExprError(f"unexpected character {text[start]!r} in expression", start)
        kind = m.lastgroup
        val = m.group(kind)
        out.append((kind, val, m.start(kind)))
        pos = m.end()
    return out


class Expr:
    """A parsed expression; immutable, evaluated once per assembler pass."""

    __slots__ = ("tree", "names", "text", "uses_here")

    def __init__(self, tree, names, text, uses_here):
        self.tree, self.names, self.text, self.uses_here = tree, names, text, uses_here

    def eval(self, lookup, here: int = 0) -> int:
        value = _eval(self.tree, lookup, here)
        if not -VALUE_LIMIT < value < VALUE_LIMIT:
            raise ExprError(f"value {value:#x} does not fit in 64 bits" if value.bit_length() < 200
                            else "value does not fit in 64 bits", 0)
        return value


def parse(text: str) -> Expr:
    toks = tokenize(text)
    if not toks:
        raise ExprError("missing expression", 0)
    if len(toks) > MAX_TOKENS:
        raise ExprError(f"expression too long ({len(toks)} tokens; at most {MAX_TOKENS})", 0,
                        certain=True)
    names: set[str] = set()
    state = {"i": 0, "here": False, "depth": 0}

    def peek():
        return toks[state["i"]] if state["i"] < len(toks) else (None, None, len(text))

    def take():
        t = peek()
        state["i"] += 1
        return t

    def primary():
        kind, val, off = take()
        if kind == "num":
            return ("n", parse_number(val, off))
        if kind == "char":
            return ("n", char_value(val, off))
        if kind == "id":
            if val in (".", "$"):
                state["here"] = True
                return ("here",)
            if val == "defined" and peek()[1] == "(":
                take()
                k2, name, off2 = take()
                if k2 != "id":
                    raise ExprError("defined() needs a name", off2)
                if take()[1] != ")":
                    raise ExprError("missing ')' after defined(NAME", off2)
                return ("def", name)
            names.add(val)
            return ("s", val, off)
        if val in ("(", "-", "+", "~", "!"):
            state["depth"] += 1
            if state["depth"] > MAX_NESTING:
                raise ExprError(f"expression nested too deeply (more than {MAX_NESTING} "
                                "parentheses or unary operators inside each other)", off,
                                certain=True)
            if val == "(":
                e = binary(0)
                k, v, o = take()
                if v != ")":
                    raise ExprError("missing ')'", o)
            else:
                e = ("u", val, primary())
            state["depth"] -= 1
            return e
        if kind is None:
            raise ExprError("expression ends too early", off)
        raise ExprError(f"unexpected {val!r} in expression", off)

    def binary(level):
        if level == len(BINARY):
            return primary()
        left = binary(level + 1)
        while True:
            kind, val, off = peek()
            if kind == "op" and val in BINARY[level]:
                take()
                left = ("b", val, left, binary(level + 1), off)
            else:
                return left

    tree = binary(0)
    if state["i"] != len(toks):
        raise ExprError(f"unexpected {toks[state['i']][1]!r} in expression", toks[state["i"]][2])
    return Expr(tree, frozenset(names), text, state["here"])


def _eval(t, lookup, here):
    tag = t[0]
    if tag == "n":
        return t[1]
    if tag == "s":
        return lookup(t[1])
    if tag == "here":
        return here
    if tag == "def":
        try:
            lookup(t[1])
            return 1
        except KeyError:
            return 0
    if tag == "u":
        v = _eval(t[2], lookup, here)
        op = t[1]
        return -v if op == "-" else v if op == "+" else ~v if op == "~" else int(not v)
    op, a, b = t[1], _eval(t[2], lookup, here), _eval(t[3], lookup, here)
    if op == "+": return a + b
    if op == "-": return a - b
    if op == "*": return a * b
    if op in ("/", "%"):
        if b == 0:
            raise ExprError("division by zero", t[4])
        q = abs(a) // abs(b) * (1 if (a >= 0) == (b >= 0) else -1)
        return q if op == "/" else a - q * b
    if op == "&": return a & b
    if op == "|": return a | b
    if op == "^": return a ^ b
    if op in ("<<", ">>"):
        if not 0 <= b < 64:
            raise ExprError(f"shift count {b} is out of range (0..63)", t[4])
        return a << b if op == "<<" else a >> b
    if op == "==": return int(a == b)
    if op == "!=": return int(a != b)
    if op == "<": return int(a < b)
    if op == "<=": return int(a <= b)
    if op == ">": return int(a > b)
    if op == ">=": return int(a >= b)
    if op == "&&": return int(bool(a) and bool(b))
    if op == "||": return int(bool(a) or bool(b))
    raise ExprError(f"unknown operator {op}")
