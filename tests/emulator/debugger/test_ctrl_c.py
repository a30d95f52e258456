"""Ctrl-C in a real terminal stops a running continue and gives the prompt back."""

import os
import sys
import time

import pexpect

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
    script = (
        "import asm, sys\n"
        "from tests.emulator.debugger.fake import FakeMachine\n"
        "from emulator.debugger.control import Debugger\n"
        "from emulator.debugger.repl import Repl\n"
        f"d = Debugger(FakeMachine(asm.assemble([{str(src)!r}])), max_run=10**10)\n"
        "sys.exit(Repl(d).loop())\n")
    child = pexpect.spawn(sys.executable, ["-c", script], cwd=ROOT, encoding="utf-8",
                          timeout=60, env={**os.environ, "PYTHONPATH": ROOT, "TERM": "dumb"})
    child.expect_exact("(irqlab) ")
    child.sendline("c")
    child.expect(r"c\r+\n")
    time.sleep(0.3)   # let the continue start (not an assertion)
    child.sendintr()
    child.expect_exact("SIGINT")
    child.expect_exact("(irqlab) ")
    child.sendline("p $ecx > 0")
    child.expect_exact("1 (0x1)")
    child.sendline("quit")
    child.expect(pexpect.EOF)
