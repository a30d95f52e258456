"""Issue 16: hundreds of generated bad inputs, and not one traceback or hang.

Seeded and bounded, so every run tries the same inputs: malformed assembly
sources (mutations of a good one, random statements, random directive
arguments), images (mutated and truncated flat and ELF images, broken
symbol files) and traces (mutated, truncated, re-typed).  Each must either
work or fail with the tool's own one-line error class (AsmError,
ImageError/MachineError, TraceError).  Any other exception fails the test
and names the input.  Hangs: the assembler's keystone watchdog ends a
keystone call that does not return; everything else here is bounded by
construction (instruction budgets, file sizes).  The command lines are
run a few times at the end to check they print no traceback.
"""

from __future__ import annotations

import gzip
import json
import random
import struct
import subprocess
import sys

import pytest

import asm
from emulator import loader
from emulator.machine import Machine, MachineError
from emulator.trace import TraceError, read_events
from emulator.trace_cli import Summary, diff_events

SEED = 16

GOOD_SOURCE = """\
# a small but complete program
.equ PORT, 0xe9
.equ COUNT, 4
_start:
    mov esp, stack_top          /* a stack */
    mov ecx, COUNT
1:  mov al, 'a'
    out PORT, al
    loop 1b
    mov eax, [table + ecx*4]
    lea ebx, [ebx + esi*2 + 8]
    jmp short done
.macro SAY c
    mov al, \\c
    out PORT, al
.endm
    SAY 'x'
done:
    mov al, 0
    out 0xf4, al
.data
table: .long 1, 2, 3, done
msg:   .asciz "hi\\n"
.align 4
.bss
.space 256
stack_top:
"""

PUNCT = "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~"
MNEMONICS = ["mov", "add", "jmp", "push", "lea", "int", "nop", "call", "in", "out", "lgdt",
             "xchg", "rep movsb", "lock add", "shl", "imul", "movzx", "iret", "ljmp", "x"]
OPERAND_TOKENS = ["eax", "ebx", "al", "[", "]", "+", "-", "*", "/", "%", "dword ptr", "byte",
                  ",", "0x10", "1", "08", "(", ")", ":", "ds", "es", "<<", ">>", "&", "|",
                  "^", "~", "!", "'\\x'", "'a'", "table", ".", "$", "1b", "2f", " ", "\t",
                  "\u00e9", "\"s\"", "{", "}", "\\", "?", "`", "=", "::", "9" * 30, "@", "1_0",
                  "0x1g", "1e3", "@1.x", "\x00"]
DIRECTIVES = [".byte", ".long", ".short", ".quad", ".ascii", ".asciz", ".fill", ".space",
              ".org", ".align", ".p2align", ".balign", ".equ", ".set", ".rept", ".irp", ".if",
              ".include", ".incbin", ".macro", ".section", ".comm", ".error", ".endm", ".endr",
              ".endif", ".else"]
ARG_TOKENS = ["1", "-1", "0", "0x100000000", "1 << 70", "1/0", "09", "A", "B", "\"x", "\"a\"",
              "'\\x'", "(((1)))", "-" * 50 + "1", ",", "", "0b2", "0ffh", "1 << -1", "x y",
              "defined(A)", "5000", "1 <<", "\"/dev/zero\"", "\"nowhere.S\""]


def mutate_text(rng: random.Random, text: str) -> str:
    """A few random edits: insert punctuation, delete a span, duplicate a line."""
    chars = list(text)
    for _ in range(rng.randint(1, 4)):
        op = rng.random()
        i = rng.randrange(len(chars) + 1)
        if op < 0.4:
            chars.insert(i, rng.choice(PUNCT + "\n\t \u00e9\ufeff\x00"))
        elif op < 0.7 and chars:
            del chars[i:i + rng.randint(1, 12)]
        elif op < 0.85:
            lines = "".join(chars).split("\n")
            j = rng.randrange(len(lines))
            lines.insert(j, lines[rng.randrange(len(lines))])
            chars = list("\n".join(lines))
        else:
            chars[i:i] = list(rng.choice(["/*", "*/", "\"", "\\", ":", ";", ".endm", ".rept 3"]))
    return "".join(chars)


def random_statement(rng: random.Random) -> str:
    if rng.random() < 0.5:
        ops = "".join(rng.choice(OPERAND_TOKENS) for _ in range(rng.randint(0, 7)))
        return f"{rng.choice(MNEMONICS + list(PUNCT))} {ops}"
    args = ", ".join(rng.choice(ARG_TOKENS) for _ in range(rng.randint(0, 3)))
    return f"{rng.choice(DIRECTIVES)} {args}"


def sources(n: int):
    rng = random.Random(SEED)
    for i in range(n):
        kind = i % 3
        if kind == 0:
            yield mutate_text(rng, GOOD_SOURCE)
        elif kind == 1:
            yield "_start:\n" + "\n".join(random_statement(rng) for _ in range(rng.randint(1, 4)))
        else:
            lines = GOOD_SOURCE.split("\n")
            lines.insert(rng.randrange(len(lines)), random_statement(rng))
            yield "\n".join(lines)


def test_generated_bad_sources_give_an_asm_error_or_an_image_never_anything_else(tmp_path):
    (tmp_path / "inc.S").write_text("nop\n")
    outcomes = {"ok": 0, "error": 0}
    for i, src in enumerate(sources(450)):
        try:
            asm.assemble_text(src, str(tmp_path / "g.S"))
            outcomes["ok"] += 1
        except asm.AsmError as e:
            assert str(e).startswith(f"{tmp_path / 'g.S'}") or str(e).startswith("<"), str(e)
            outcomes["error"] += 1
        except Exception as e:                     # noqa: BLE001 -- the point of the test
            pytest.fail(f"source {i} raised {type(e).__name__}: {e}\n---\n{src}\n---")
    assert outcomes["error"] > 250 and outcomes["ok"] >= 5, outcomes


# ---------------------------------------------------------------------- images
def good_images():
    img = asm.assemble_text(GOOD_SOURCE)
    return img.flat(), img.elf(), img


def mutate_bytes(rng: random.Random, data: bytes, header: int) -> bytes:
    b = bytearray(data)
    op = rng.random()
    if op < 0.3:
        return bytes(b[:rng.randrange(len(b))])
    if op < 0.7:                                 # a header field: 2 or 4 bytes of junk
        off = rng.randrange(0, header - 4)
        value = rng.choice([0, 1, 0xFFFF, 0xFFFFFFFF, 0x7FFFFFFF, len(b), rng.getrandbits(32)])
        fmt, mask = ("<I", 0xFFFFFFFF) if rng.random() < 0.6 else ("<H", 0xFFFF)
        struct.pack_into(fmt, b, off, value & mask)
        return bytes(b)
    for _ in range(rng.randint(1, 20)):
        b[rng.randrange(len(b))] = rng.getrandbits(8)
    return bytes(b)


def test_generated_bad_images_load_or_give_an_image_error():
    flat, elf, _img = good_images()
    rng = random.Random(SEED)
    ram = bytearray(4 << 20)
    results = {"ok": 0, "error": 0}
    for i in range(400):
        base, header = (elf, 0x200) if i % 2 else (flat, 64)
        data = mutate_bytes(rng, base, header)
        try:
            loader.load(data, ram)
            results["ok"] += 1
        except loader.ImageError as e:
            assert "\n" not in str(e)
            results["error"] += 1
        except Exception as e:                     # noqa: BLE001
            pytest.fail(f"image {i} raised {type(e).__name__}: {e}")
    assert results["error"] > 100 and results["ok"] > 20, results


def test_generated_bad_images_that_load_also_run_within_their_budget():
    flat, elf, _img = good_images()
    rng = random.Random(SEED + 1)
    ran = 0
    for i in range(40):
        data = mutate_bytes(rng, *((flat, 64) if i % 2 else (elf, 0x200)))
        try:
            m = Machine.from_bytes(data, mem_mib=4)
        except MachineError:
            continue
        m.console = lambda data: None
        result = m.run(5000)
        assert result.reason in ("exit", "budget", "crash", "triple-fault", "deadlock"), result
        ran += 1
    assert ran > 5


def test_generated_bad_symbol_files_load_or_give_an_image_error(tmp_path):
    flat, _elf, img = good_images()
    good = json.dumps(img.symfile())
    rng = random.Random(SEED)
    (tmp_path / "k.bin").write_bytes(flat)
    results = {"ok": 0, "error": 0}
    for i in range(150):
        if i % 2:
            text = mutate_text(rng, good)
        else:
            d = img.symfile()
            key = rng.choice(["symbols", "lines", "sources", "base", "entry", "format"])
            d[key] = rng.choice([[], {}, None, "x", -1, [[1]], [{"name": ""}], 1 << 70, [None]])
            text = json.dumps(d)
        (tmp_path / "k.sym.json").write_text(text, encoding="utf-8", errors="surrogateescape")
        try:
            loader.image_symbols(tmp_path / "k.bin")       # what run and debug load
            results["ok"] += 1
        except loader.ImageError as e:
            assert "\n" not in str(e)
            results["error"] += 1
        except Exception as e:                     # noqa: BLE001
            pytest.fail(f"symbol file {i} raised {type(e).__name__}: {e}\n{text[:300]}")
    assert results["error"] > 60, results


# ---------------------------------------------------------------------- traces
GOOD_TRACE = [
    {"t": 10, "cpu": 0, "ev": "irq.raise", "line": 5},
    {"t": 12, "cpu": 0, "ev": "intr.enter", "vector": 37, "line": 5, "kind": "irq", "eip": 1,
     "owner": "lwp 3"},
    {"t": 20, "cpu": 0, "ev": "pic.mask", "line": 5},
    {"t": 30, "cpu": 0, "ev": "intr.exit", "vector": 37, "line": 5, "eip": 2, "owner": "lwp 3"},
    {"t": 31, "cpu": 1, "ev": "check.violation", "rule": "liveness", "message": "m"},
    {"t": 40, "cpu": 0, "ev": "pic.unmask", "line": 5},
    {"t": 41, "cpu": 0, "ev": "ipi.send", "by": "lwp 1", "to": [1, 2], "vector": 192,
     "func": "f"},
]
JUNK_VALUES = ["x", -1, [1, [2]], {"a": 1}, None, True, 1.5, 10 ** 30, "", [], "\u00e9"]


def trace_bytes(rng: random.Random) -> bytes:
    events = [dict(e) for e in GOOD_TRACE]
    op = rng.random()
    if op < 0.35:                                  # a field re-typed
        ev = rng.choice(events)
        ev[rng.choice(list(ev))] = rng.choice(JUNK_VALUES)
        text = "".join(json.dumps(e) + "\n" for e in events).encode("utf-8")
    else:
        text = "".join(json.dumps(e) + "\n" for e in events).encode("ascii")
        text = mutate_text(rng, text.decode()).encode("utf-8", "surrogatepass")
    if rng.random() < 0.3:
        text = gzip.compress(text, mtime=0)
        if rng.random() < 0.6:
            text = text[:rng.randrange(len(text))]
    return text


def test_generated_bad_traces_are_read_or_give_a_trace_error(tmp_path):
    rng = random.Random(SEED)
    path = tmp_path / "t.jsonl"
    good = tmp_path / "good.jsonl"
    good.write_text("".join(json.dumps(e) + "\n" for e in GOOD_TRACE))
    results = {"ok": 0, "error": 0}
    for i in range(400):
        data = trace_bytes(rng)
        path.write_bytes(data)
        try:
            summary = Summary()
            for ev in read_events(path):
                summary.add(ev)
            summary.render("t")
            diff_events(read_events(good), read_events(path), context=2, window=5)
            results["ok"] += 1
        except TraceError as e:
            assert "\n" not in str(e)
            results["error"] += 1
        except Exception as e:                     # noqa: BLE001
            pytest.fail(f"trace {i} raised {type(e).__name__}: {e}\n{data[:400]!r}")
    assert results["error"] > 150 and results["ok"] > 50, results


# ---------------------------------------------------------------------- command lines
def test_the_command_lines_print_one_line_and_no_traceback_for_a_few_generated_inputs(tmp_path):
    rng = random.Random(SEED)
    srcs = list(sources(60))
    picked = [srcs[i] for i in (0, 1, 2, 4, 7)]
    for i, src in enumerate(picked):
        (tmp_path / "g.S").write_text(src, encoding="utf-8", errors="surrogatepass")
        r = subprocess.run([sys.executable, "-m", "asm", "build", str(tmp_path / "g.S"), "-o",
                            str(tmp_path / "g.bin")], capture_output=True, text=True,
                           timeout=120)
        assert r.returncode in (0, 1) and "Traceback" not in r.stderr, (src, r.stderr)
    flat, elf, _img = good_images()
    for i in range(3):
        (tmp_path / "k.bin").write_bytes(mutate_bytes(rng, elf, 0x200))
        r = subprocess.run([sys.executable, "-m", "emulator", "run", str(tmp_path / "k.bin"),
                            "--no-checks", "--max-instructions", "5000", "--mem", "4"],
                           capture_output=True, text=True, timeout=120)
        assert "Traceback" not in r.stderr, r.stderr
    for i in range(3):
        (tmp_path / "t.jsonl").write_bytes(trace_bytes(rng))
        r = subprocess.run([sys.executable, "-m", "emulator", "trace", "summary",
                            str(tmp_path / "t.jsonl")], capture_output=True, text=True, timeout=120)
        assert r.returncode in (0, 2) and "Traceback" not in r.stderr, r.stderr
