"""inject, rwatch, x formats, cpu selection, Z2 watchpoints through the stub."""

import pathlib
import socket

from emulator.debugger.gdbstub import frame
from tests.emulator.debugger.conftest import build_loop, drive
from tests.emulator.debugger.test_gdbstub import _talk, start_stub

IRQNEST = (pathlib.Path(__file__).parent / "irqnest.S").read_text()


def test_inject_schedules_an_interrupt_that_catch_irq_stops_on(tmp_path):
    d, p = build_loop(tmp_path, text=IRQNEST, name="irqnest")
    out = drive(d, "b main_loop\nc\ndelete\ncatch irq 5\ninject irq=5,at=500\nc\ntime\n")
    assert "injected irq=5,at=500" in out
    assert "Catchpoint 2 (irq 5, vector 0x25, from main_loop" in out
    assert 500 <= d.t.now < 600
    assert p["irq5"] <= d.pc < p["irq3"]


def test_inject_with_a_bad_spec_is_one_line(tmp_path):
    d, _p = build_loop(tmp_path, text=IRQNEST, name="irqnest")
    out = drive(d, "inject frob=1\n")
    assert out.count("error:") == 1 and "inject frob=1" in out


def test_rwatch_stops_on_a_read(tmp_path):
    d, p = build_loop(tmp_path)
    out = drive(d, "rwatch counter\nc\n")
    assert "Hardware read watchpoint 1: " in out
    assert p["bump"] <= d.pc <= p["bump"] + 0xe


def test_x_formats_follow_gdb(tmp_path):
    d, p = build_loop(tmp_path)
    drive(d, "set var counter = 0x41424344\n")
    out = drive(d, "x/4xb counter\nx/2dh counter\nx/c counter\nx/s counter\nx/a $sp\nx/tw counter\n"
                   "x/uw counter\nx/ow counter\nx\n")
    assert "0x44\t0x43\t0x42\t0x41" in out
    assert "17220\t16706" in out
    assert "68 'D'" in out
    assert "'DCBA'" in out
    assert "01000001010000100100001101000100" in out
    assert str(0x41424344) in out and oct(0x41424344) in out


def test_x_and_disassemble_wrap_at_4_gib_like_the_cpu(tmp_path):
    # a 32-bit linear address after 0xffffffff is 0 (gdb on i386 wraps too);
    # the listing must name the address it read, never 0x100000000
    d, _p = build_loop(tmp_path)
    out = drive(d, "x/4i 0xfffffffe\ndisas 0xfffffffe 3\nx/2x 0\nx\n")
    assert "0x100000000" not in out
    assert "0x00000000" in out and "0x00000008" in out


def test_cpu_selects_the_cpu_the_views_read(tmp_path):
    d, _p = build_loop(tmp_path)
    out = drive(d, "cpu\ncpu 0\ninfo cpus\n")
    assert "cpu 0 of 1" in out and "* cpu 0: pc" in out


def test_stub_write_watchpoint_stops_with_a_watch_reply(tmp_path):
    d, p = build_loop(tmp_path)
    port, th = start_stub(d)
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    assert _talk(s, frame(f"Z2,{p['counter']:x},4")) == b"OK"
    assert _talk(s, frame("c")) == f"T05watch:{p['counter']:x};thread:1;".encode()
    assert _talk(s, frame(f"z2,{p['counter']:x},4")) == b"OK"
    assert _talk(s, frame(f"m{p['counter']:x},4")) in (b"00000000", b"02000000")
    assert _talk(s, frame(f"M{p['counter']:x},4:2a000000")) == b"OK"
    assert d.t.read_u32(p["counter"]) == 42
    assert _talk(s, frame("P0=78563412")) == b"OK" and d.reg("eax") == 0x12345678
    s.sendall(frame("k"))
    th.join(10)
    s.close()
    assert not th.is_alive()


def test_the_command_line_refuses_a_missing_image_in_one_line(tmp_path):
    import subprocess
    import sys
    from tests.emulator.debugger.test_gdbstub import ROOT
    r = subprocess.run([sys.executable, "-m", "emulator", "debug", str(tmp_path / "none.elf")],
                       cwd=ROOT, capture_output=True, text=True, timeout=60, input="quit\n")
    assert r.returncode == 2
    assert r.stderr.count("\n") == 1 and "none.elf" in r.stderr and "Traceback" not in r.stderr


def test_the_command_line_runs_a_script_from_stdin(tmp_path):
    import subprocess
    import sys
    from tests.emulator.debugger.test_gdbstub import ROOT
    _d, p = build_loop(tmp_path)
    r = subprocess.run([sys.executable, "-m", "emulator", "debug", p["elf"], "--mem", "4",
                        "--no-observe", "--max-instructions", "100000"],
                       cwd=ROOT, capture_output=True, text=True, timeout=60,
                       input="b bump\nc\np $pc == bump\nquit\n")
    assert "Breakpoint 1, bump" in r.stdout and "1 (0x1)" in r.stdout
    assert r.returncode == 0


def test_a_trace_file_that_cannot_be_written_is_named_in_one_line(tmp_path, capsys):
    from emulator.debugger import main
    _d, p = build_loop(tmp_path)
    bad = str(tmp_path / "no-such-dir" / "t.jsonl")
    assert main([p["elf"], "--mem", "4", "--trace", bad]) == 2
    err = capsys.readouterr().err                 # after the checkers' note on this image
    assert err.endswith(f"\ndebug: cannot write --trace {bad}: No such file or directory\n")
    assert "Traceback" not in err
