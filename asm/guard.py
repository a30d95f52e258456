"""What keystone may see, and a deadline in case it loops anyway.

keystone 0.9.2 loops for ever (in C, deaf to Ctrl-C) on some statements it
should reject: one that starts with a punctuation character (`,`, `\\`,
`*`, `:`), or whose operands start with `:` (`xchg : eax`).  Measured by
feeding it tens of thousands of generated statements with a deadline each:
every hang was one of those shapes, and nothing in the grammar below hung.
So keystone is handed only statements of this grammar:

    statement  = { prefix " " } mnemonic [ " " operands ]
    prefix     = rep | repe | repz | repne | repnz | lock | data16 | addr16
    mnemonic   = [a-z][a-z0-9]*
    operands   = operand { "," operand }       each non-empty
    operand    = characters from OPERAND_CHARS, not starting or ending with
                 ":" and without "::"; every number one asm.expr reads
                 (`1_000`, `0x1g`, `09` are refused here)

check_statement(prefix, mnemonic, ops) says, for the user, what is wrong
with a statement as written (EncodeError-ready (message, where, offset) or
None): it runs once per statement before any encoding.  keystone_text_ok
(text) is the last gate on the exact text handed to keystone (symbols
already replaced by numbers, so only registers, keywords, numbers and
operators remain).

Watchdog: a backstop, not the defence.  `run(fn, what)` calls fn (keystone;
ctypes releases the GIL, so a thread can watch) and, if it has not returned
after `deadline` seconds, prints one line naming the statement and ends the
process with status 70 (internal error) -- the output is the same on every
run, since a statement keystone loops on never returns.  One daemon thread,
started on first use; a call costs two attribute writes.
"""

from __future__ import annotations

import os
import re
import sys
import threading
import time

from .expr import ExprError, parse_number
from .operands import split_top

PREFIXES = ("rep", "repe", "repz", "repne", "repnz", "lock", "data16", "addr16")
MNEMONIC = re.compile(r"[a-z][a-z0-9]*\Z")
# as written: identifiers, numbers, char literals ('\n'), operators, brackets
OPERAND_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
                          "_.@$ \t,[]()+-*/%<>=&|^~!:")
NUMBER = re.compile(r"(?<![\w.@$])\d[\w]*")
CHAR_LITERAL = re.compile(r"'(?:\\x[0-9a-fA-F]{1,2}|\\[0-7]{1,3}|\\.|[^\\'])'")
# what keystone gets: symbols, '.', '$' and char literals are numbers by then
KEYSTONE_TEXT = re.compile(r"(?:(?:" + "|".join(PREFIXES) + r") )*[a-z][a-z0-9]*"
                           r"(?: (?P<ops>[a-zA-Z0-9 ,\[\]()+\-*/%<>=&|^~!:]*))?\Z")
DEADLINE_SECONDS = 30.0
INTERNAL_ERROR_STATUS = 70


def check_statement(mnemonic: str, ops: str, ops_off: int):
    """None if keystone may see this statement; else (message, where, offset).

    ``where`` is "mnemonic" or "operands"; ``offset`` is the column offset
    in the statement of the first bad character (operands) or None."""
    if not MNEMONIC.match(mnemonic):
        shown = mnemonic if len(mnemonic) <= 20 else mnemonic[:20] + "..."
        return (f"expected an instruction or a directive, found '{shown}'", "mnemonic", None)
    if not ops:
        return None
    plain = CHAR_LITERAL.sub(lambda m: "0" * len(m.group()), ops)
    for i, c in enumerate(plain):
        if c not in OPERAND_CHARS:
            what = repr(c) if c.isprintable() else f"{ord(c):#04x}"
            return (f"unexpected character {what} in the operands", "operands", ops_off + i)
    for m in NUMBER.finditer(plain):          # keystone would take `1_000` or misread it
        try:
            parse_number(m.group(), m.start())
        except ExprError as e:
            return (str(e), "operands", ops_off + e.offset)
    for text, off in split_top(plain, ","):
        if not text:
            return ("empty operand", "operands", ops_off + off)
        if not _operand_ok(text):
            return (f"misplaced ':' in operand '{text}' (a segment override is "
                    "'es:[edi]', a far pointer 'SEL:OFFSET')", "operands", ops_off + off)
    return None


def keystone_text_ok(text: str) -> bool:
    """The last gate: is ``text`` of the grammar keystone was measured on?"""
    m = KEYSTONE_TEXT.match(text)
    if m is None:
        return False
    ops = m.group("ops")
    return ops is None or all(_operand_ok(op.strip()) for op in ops.split(","))


def _operand_ok(op: str) -> bool:
    return bool(op) and not op.startswith(":") and not op.endswith(":") and "::" not in op


class Watchdog:
    """Ends the process, with one line, if a watched call outlives its deadline."""

    def __init__(self, deadline: float = DEADLINE_SECONDS, exit=os._exit, err=None):
        self.deadline = deadline
        self._exit = exit
        self._err = err
        self._busy = None              # (started, what) while a call runs
        self._thread = None

    def run(self, fn, what: str):
        if self._thread is None:
            self._thread = threading.Thread(target=self._watch, name="keystone-watchdog",
                                            daemon=True)
            self._thread.start()
        self._busy = (time.monotonic(), what)
        try:
            return fn()
        finally:
            self._busy = None

    def _watch(self):
        while True:
            time.sleep(min(1.0, self.deadline / 4))
            busy = self._busy
            if busy is not None and time.monotonic() - busy[0] > self.deadline:
                err = self._err or sys.stderr
                err.write(f"{busy[1]}: internal error: keystone did not return on this "
                          f"statement (it loops on some malformed input; please report "
                          f"it)\n")
                err.flush()
                self._exit(INTERNAL_ERROR_STATUS)
                return
