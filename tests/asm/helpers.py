"""Shared helpers for the asm tests: assemble a snippet, read bytes back."""

from __future__ import annotations

from capstone import CS_ARCH_X86, CS_MODE_32, Cs

import asm

CS = Cs(CS_ARCH_X86, CS_MODE_32)


def build(src: str, **kw) -> asm.Image:
    """Assemble `src`; a `_start:` label is added in front when missing."""
    if "_start" not in src:
        src = "_start:\n" + src
    return asm.assemble_text(src, "t.S", **kw)


def mem(image: asm.Image, addr: int, n: int) -> bytes:
    data = image.memory()
    return data[addr - image.base:addr - image.base + n]


def between(image: asm.Image, start: str, end: str) -> bytes:
    """The bytes from label `start` up to label `end`."""
    a, b = image.symbols[start].value, image.symbols[end].value
    return mem(image, a, b - a)


def code(src: str, **kw) -> bytes:
    """Bytes of the .text statements of `src` (between _start and a final label)."""
    image = build("_start:\n" + src + "\n_end_of_code:\n", **kw)
    return between(image, "_start", "_end_of_code")


def disasm(data: bytes, addr: int = 0x100020):
    return [(i.mnemonic, i.op_str, i.size) for i in CS.disasm(data, addr)]
