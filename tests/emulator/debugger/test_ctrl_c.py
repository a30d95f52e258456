"""Ctrl-C in a real terminal stops a running continue and gives the prompt back
(python -m emulator debug, prompt_toolkit on a pty)."""

import os
import sys
import time

import pexpect

import asm

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))

SPIN = """\
_start:
        mov ecx, 0
spin:
        inc ecx
        jmp spin
"""


def test_ctrl_c_during_continue_returns_to_the_prompt(tmp_path):
    src = tmp_path / "spin.S"
    src.write_text(SPIN)
    asm.assemble([str(src)]).write(str(tmp_path / "spin.bin"), elf=str(tmp_path / "spin.elf"),
                                   sym=str(tmp_path / "spin.sym.json"))
    # 10^11 instructions bound the run (minutes of guest time); Ctrl-C ends it.
    child = pexpect.spawn(sys.executable,
                          ["-m", "emulator", "debug", str(tmp_path / "spin.elf"), "--mem", "4",
                           "--no-observe", "--max-instructions", str(10 ** 11)],
                          cwd=ROOT, encoding="utf-8", timeout=60,
                          env={**os.environ, "PYTHONPATH": ROOT, "TERM": "dumb"})
    child.expect_exact("(irqlab) ")
    child.sendline("c")
    child.expect(r"c\r+\n")
    time.sleep(0.5)          # let the continue get going (not an assertion)
    child.sendintr()
    child.expect_exact("SIGINT")
    child.expect_exact("(irqlab) ")
    child.sendline("p $ecx > 1000")
    child.expect_exact("1 (0x1)")
    child.sendline("quit")
    child.expect(pexpect.EOF)
