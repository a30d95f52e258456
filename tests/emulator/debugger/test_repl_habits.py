"""What a gdb user's fingers expect (issue 16): unique prefixes of commands
and info topics, reverse-continue back to the previous catchpoint hit,
history kept across sessions, completion on Tab."""

import os
import pathlib
import sys
import time

import pexpect

from emulator.debugger import terminal
from tests.emulator.debugger.conftest import build_loop, drive
from tests.emulator.debugger.test_gdbstub import ROOT

IRQNEST = (pathlib.Path(__file__).parent / "irqnest.S").read_text()
# the same guest with an IRQ 5 handler that counts in EDX, EOIs and returns,
# so every injected IRQ 5 is taken
IRQ5_RETURNS = IRQNEST.replace("irq5:\n        sti\nwait3:\n        cmp byte ptr [flag3], 0\n"
                               "        je wait3\n", "irq5:\n        inc edx\nwait3:\n")


def test_a_unique_prefix_of_a_command_or_an_info_topic_is_accepted(tmp_path):
    d, _ = build_loop(tmp_path)
    out = drive(d, "inf pic\ninfo thr\ndisas 1\nregist eip\n")
    assert "error" not in out, out
    assert "pic master irr=" in out
    assert "info threads needs the observer" in out
    assert "=> 0x" in out and "eip     0x" in out


def test_an_ambiguous_prefix_names_the_candidates_in_one_line(tmp_path):
    d, _ = build_loop(tmp_path)
    out = drive(d, "in\ninfo p\n")
    assert 'error: Ambiguous command "in": info, inject.' in out
    assert 'error: Ambiguous info command "p": pic, pit, port61.' in out


def test_reverse_continue_after_catch_irq_goes_to_the_previous_hit_not_t0(tmp_path):
    assert IRQ5_RETURNS != IRQNEST
    d, p = build_loop(tmp_path, text=IRQ5_RETURNS, name="irq5")
    drive(d, "b main_loop\nc\ndelete\ncatch irq 5\ninject irq=5,at=500\ninject irq=5,at=3000\n")
    first = drive(d, "c\n")
    t1, pc1, esp1, edx1 = d.t.now, d.pc, d.reg("esp"), d.reg("edx")
    second = drive(d, "c\n")
    assert "Catchpoint 2 (irq 5" in first and "Catchpoint 2 (irq 5" in second
    assert 3000 <= d.t.now < 3100 and d.reg("edx") == edx1 + 1
    out = drive(d, "reverse-continue\n")
    assert "Catchpoint 2 (irq 5, vector 0x25, from main_loop" in out and "(reverse)" in out
    assert (d.t.now, d.pc, d.reg("esp")) == (t1, pc1, esp1)   # where the forward catch stopped
    assert d.pc == p["irq5"] and d.reg("edx") == edx1 and 500 <= t1 < 600
    out = drive(d, "reverse-continue\n")
    assert "No more reverse-execution history." in out


def test_reverse_continue_stops_at_a_catch_hit_made_before_the_catchpoint_existed(tmp_path):
    d, p = build_loop(tmp_path, text=IRQ5_RETURNS, name="irq5")
    drive(d, "b main_loop\nc\ndelete\ninject irq=5,at=500\n")
    drive(d, "run-for 2000\ncatch irq 5\n")
    out = drive(d, "rc\n")
    assert "Catchpoint 2 (irq 5" in out and "(reverse)" in out
    assert 500 <= d.t.now < 600 and d.pc == p["irq5"]


def test_history_lives_under_xdg_cache_home_or_the_home_cache(monkeypatch, tmp_path):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "c"))
    assert terminal.history_path() == tmp_path / "c" / "irqlab" / "debug_history"
    monkeypatch.setenv("XDG_CACHE_HOME", "relative/not/allowed")    # XDG: ignore it
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert terminal.history_path() == tmp_path / "home" / ".cache" / "irqlab" / "debug_history"


def _session(elf, cache):
    return pexpect.spawn(sys.executable, ["-m", "emulator", "debug", elf, "--mem", "4",
                                          "--no-observe", "--max-instructions", "100000"],
                         cwd=ROOT, encoding="utf-8", timeout=60,
                         env={**os.environ, "PYTHONPATH": ROOT, "TERM": "dumb",
                              "XDG_CACHE_HOME": str(cache)})


def test_history_is_kept_across_sessions_and_tab_completes(tmp_path):
    _d, p = build_loop(tmp_path)
    cache = tmp_path / "cache"
    child = _session(p["elf"], cache)
    child.expect_exact("(irqlab) ")
    child.sendline("p 40+2")
    child.expect_exact("42 (0x2a)")
    child.expect_exact("(irqlab) ")
    # Tab completes the command, the info topic, a symbol; completion runs
    # in the background, so each Tab gets time before the next key (not an
    # assertion: the history file below says what was completed)
    for keys in ("inf\t", " brea\t", "\r", "p coun\t", "\r"):
        child.send(keys)
        time.sleep(0.5)
    child.expect_exact("No breakpoints or watchpoints.")
    child.expect_exact("<counter>")             # 'p coun' alone would be an error
    child.expect_exact("(irqlab) ")
    child.sendline("quit")
    child.expect(pexpect.EOF)
    history = (cache / "irqlab" / "debug_history").read_text()
    assert "+p 40+2\n" in history and "+info breakpoints\n" in history
    assert "+p counter\n" in history
    child = _session(p["elf"], cache)       # a new session: the same history
    child.expect_exact("(irqlab) ")
    child.send("\x1b[A" * 4 + "\r")          # up: quit, p counter, info ..., p 40+2
    child.expect_exact("42 (0x2a)")
    child.expect_exact("(irqlab) ")
    child.sendline("quit")
    child.expect(pexpect.EOF)
