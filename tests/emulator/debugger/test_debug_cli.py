"""``python -m emulator debug``'s command line on bad input (issue 16): one
line on stderr and README's exit status, never a traceback or a hang."""

import os
import socket
import subprocess
import sys
import time

import pytest

from tests.emulator.debugger.conftest import build_loop
from tests.emulator.debugger.test_gdbstub import ROOT

ENV = {**os.environ, "PYTHONPATH": ROOT}


def debug(*args, stdin="quit\n", timeout=60):
    return subprocess.run([sys.executable, "-m", "emulator", "debug", *map(str, args)],
                          cwd=ROOT, capture_output=True, text=True, timeout=timeout,
                          input=stdin, env=ENV)


def one_line(r, status, *words):
    assert r.returncode == status, (r.returncode, r.stderr)
    assert "Traceback" not in r.stderr
    assert r.stderr.endswith("\n") and r.stderr.count("\n") == 1, r.stderr
    for w in words:
        assert w in r.stderr, r.stderr


@pytest.mark.parametrize("mem", ["0", "999999", "-1"])
def test_mem_outside_1_to_3072_mib_is_refused_as_run_refuses_it(tmp_path, mem):
    _d, p = build_loop(tmp_path)
    one_line(debug(p["elf"], "--mem", mem), 2, "--mem must be between 1 and 3072 MiB")


@pytest.mark.parametrize("port", ["70000", "-5"])
def test_a_gdb_port_outside_0_to_65535_is_refused(tmp_path, port):
    _d, p = build_loop(tmp_path)
    one_line(debug(p["elf"], "--gdb", port), 2, "--gdb", "0..65535")


def test_a_gdb_port_in_use_is_one_line_and_status_2(tmp_path):
    _d, p = build_loop(tmp_path)
    busy = socket.socket()
    busy.bind(("127.0.0.1", 0))
    busy.listen(1)
    try:
        port = busy.getsockname()[1]
        one_line(debug(p["elf"], "--mem", "4", "--no-observe", "--gdb", port), 2,
                 f"cannot listen on 127.0.0.1:{port}", "in use")
    finally:
        busy.close()


def test_a_bad_option_is_one_line_and_status_2(tmp_path):
    _d, p = build_loop(tmp_path)
    one_line(debug(p["elf"], "--cpus", "two"), 2, "--cpus")
    one_line(debug(p["elf"], "--no-such-option"), 2, "--no-such-option")


def test_stdout_closed_early_ends_with_141_and_no_traceback(tmp_path):
    _d, p = build_loop(tmp_path)
    proc = subprocess.Popen([sys.executable, "-m", "emulator", "debug", p["elf"], "--mem", "4",
                             "--no-observe"], cwd=ROOT, env=ENV, stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    first = proc.stdout.readline()              # like '| head -1'
    proc.stdout.close()
    try:
        proc.stdin.write(b"info registers\n" * 2000 + b"quit\n")
        proc.stdin.close()
    except BrokenPipeError:
        pass
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=60) == 141
    assert first and "Traceback" not in err and "BrokenPipe" not in err, err


def test_gdb_hanging_up_during_continue_ends_the_session_in_one_line(tmp_path):
    _d, p = build_loop(tmp_path)
    stub = subprocess.Popen([sys.executable, "-m", "emulator", "debug", p["elf"], "--mem", "4",
                             "--no-observe", "--gdb", "0"], cwd=ROOT, env=ENV,
                            stderr=subprocess.PIPE, text=True)
    try:
        line = stub.stderr.readline()
        port = int(line.rsplit(":", 1)[1])
        s = socket.create_connection(("127.0.0.1", port), timeout=30)
        s.sendall(b"$c#63")                     # continue: the loop runs 10^6 times
        assert s.recv(1) == b"+"
        time.sleep(0.3)                         # let it get going (not an assertion)
        s.close()
        status = stub.wait(timeout=60)
        err = stub.stderr.read()
    finally:
        if stub.poll() is None:
            stub.kill()
            stub.wait()
    assert status == 0
    assert "Traceback" not in err and err.count("\n") == 1 and "hung up" in err, err
