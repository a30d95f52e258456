"""A real gdb against the stub: reverse-stepi / reverse-continue (the bs/bc
packets) and threads as CPUs (``thread 2`` shows CPU 1's registers).

gdb must be installed in CI (.ci/run installs it): with CI set these fail
instead of skipping.
"""

import os
import re
import shutil
import subprocess
import sys

import pytest

import asm
from tests.emulator.debugger.conftest import build_loop
from tests.emulator.debugger.test_gdbstub import ROOT
from tests.emulator.debugger.test_smp_views import PROBES
from tests.emulator.debugger.test_stub_hardening import SPIN2


def need_gdb():
    if shutil.which("gdb") is None:
        if os.environ.get("CI"):
            pytest.fail("gdb is required in CI")
        pytest.skip("gdb is not installed")


def run_gdb(elf, gdb_commands, stub_args=()):
    """Start ``python -m emulator debug ELF --gdb 0``, run gdb's commands
    against it in batch mode; (gdb's stdout, the stub's exit status)."""
    stub = subprocess.Popen(
        [sys.executable, "-m", "emulator", "debug", str(elf), "--gdb", "0",
         "--max-instructions", "1000000", *stub_args],
        cwd=ROOT, stderr=subprocess.PIPE, text=True, env={**os.environ, "PYTHONPATH": ROOT})
    try:
        m = None
        for _ in range(20):
            line = stub.stderr.readline()
            m = re.search(r"listening on 127\.0\.0\.1:(\d+)", line)
            if m or not line:
                break
        assert m, "the stub did not start"
        args = ["gdb", "-batch", "-nx", "-ex", "set architecture i386",
                "-ex", f"target remote 127.0.0.1:{m.group(1)}"]
        for c in gdb_commands:
            args += ["-ex", c]
        r = subprocess.run(args + ["-ex", "detach", str(elf)],
                           capture_output=True, text=True, timeout=120)
        status = stub.wait(timeout=60)
    finally:
        if stub.poll() is None:
            stub.kill()
            stub.wait()
    return r.stdout + r.stderr, status


def test_gdb_reverse_continue_and_reverse_stepi_go_back_through_the_stub(tmp_path):
    need_gdb()
    _d, p = build_loop(tmp_path)
    out, status = run_gdb(p["elf"], [
        "break bump", "continue", "continue", "p $ecx", "reverse-continue", "p $ecx",
        "reverse-stepi", "p/x $pc", "stepi", "p/x $pc"], stub_args=("--mem", "4"))
    assert status == 0, out
    assert "$1 = 1" in out                      # the second hit: ecx counted one pass
    assert "$2 = 0" in out, out                 # reverse-continue: back at the first hit
    assert f"$3 = {p['again']:#x}" in out       # reverse-stepi: the call before bump
    assert f"$4 = {p['bump']:#x}" in out


def test_gdb_thread_2_shows_cpu_1s_registers(tmp_path):
    need_gdb()
    src = tmp_path / "spin2.S"
    src.write_text(SPIN2)
    img = asm.assemble([src], include_dirs=[PROBES], defines={"NCPUS": 2})
    elf = tmp_path / "spin2.elf"
    img.write(str(tmp_path / "spin2.bin"), elf=str(elf))
    syms = {n: s.value for n, s in img.symbols.items()}
    out, status = run_gdb(elf, [
        "break ap_loop", "continue", "info threads", "thread 1", "p/x $pc", "thread 2",
        "p/x $pc", "stepi", "p/x $pc"], stub_args=("--cpus", "2"))
    assert status == 0, out
    assert re.search(r"Thread 2 .*hit Breakpoint 1", out), out
    pcs = [int(v, 16) for v in re.findall(r"\$\d+ = (0x[0-9a-f]+)", out)]
    assert len(pcs) == 3, out
    assert pcs[0] != syms["ap_loop"]            # thread 1 is CPU 0, elsewhere
    assert pcs[1] == syms["ap_loop"]            # thread 2 is CPU 1, at the breakpoint
    assert pcs[2] == syms["ap_loop"] + 1        # stepi stepped CPU 1 ('inc edx')
