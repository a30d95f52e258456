import os
import re
import shutil
import socket
import subprocess
import sys
import threading

import pytest

from emulator.debugger.gdbstub import GdbStub, frame
from tests.emulator.debugger.conftest import build_loop

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))


def start_stub(dbg):
    stub = GdbStub(dbg, 0)
    port = stub.listen()
    th = threading.Thread(target=stub.serve, daemon=True)
    th.start()
    return port, th


@pytest.mark.skipif(shutil.which("gdb") is None, reason="gdb is not installed")
def test_debian_gdb_breaks_at_a_symbol_reads_a_register_steps_and_detaches(tmp_path):
    _dbg, paths = build_loop(tmp_path)
    # the whole command line: python -m emulator debug IMAGE --gdb 0 (any free port)
    stub = subprocess.Popen(
        [sys.executable, "-m", "emulator", "debug", paths["elf"], "--gdb", "0", "--mem", "4",
         "--max-instructions", "1000000"],
        cwd=ROOT, stderr=subprocess.PIPE, text=True, env={**os.environ, "PYTHONPATH": ROOT})
    try:
        seen = ""
        for _ in range(20):
            line = stub.stderr.readline()
            seen += line
            m = re.search(r"listening on 127\.0\.0\.1:(\d+)", line)
            if m or not line:
                break
        assert m, seen
        r = subprocess.run(
            ["gdb", "-batch", "-nx", "-ex", "set architecture i386",
             "-ex", f"target remote 127.0.0.1:{m.group(1)}", "-ex", "break bump",
             "-ex", "continue", "-ex", "p/x $eip", "-ex", "p $ecx", "-ex", "stepi",
             "-ex", "p/x $pc", "-ex", "x/wx &counter", "-ex", "monitor info pic",
             "-ex", "detach", paths["elf"]],
            capture_output=True, text=True, timeout=60)
        assert stub.wait(timeout=30) == 0
    finally:
        if stub.poll() is None:
            stub.kill()
    out = r.stdout
    assert "Breakpoint 1, bump () at" in out, out + r.stderr
    assert f"$1 = {paths['bump']:#x}" in out
    assert "$2 = 0" in out
    assert f"$3 = {paths['bump'] + 5:#x}" in out
    assert f"{paths['counter']:#x}:\t0x00000000" in out
    assert "pic master irr=" in out + r.stderr     # monitor runs a REPL command
    assert "detached" in out


def _talk(sock, payload: bytes) -> bytes:
    sock.sendall(payload)
    data = b""
    while b"#" not in data or len(data) < data.index(b"#") + 3:
        data += sock.recv(4096)
    sock.sendall(b"+")
    return data[data.index(b"$") + 1:data.index(b"#")]


def test_malformed_packets_get_e01_and_the_stub_keeps_serving(tmp_path):
    dbg, _paths = build_loop(tmp_path)
    port, th = start_stub(dbg)
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    assert _talk(s, frame("m zz,4")) == b"E01"
    assert _talk(s, frame("Mxyz")) == b"E01"
    assert _talk(s, frame("P99")) == b"E01"
    assert _talk(s, frame("Z0,nothex,1")) == b"E01"
    assert _talk(s, frame("G12")) == b"E01"
    assert _talk(s, frame("qNoSuchThing")) == b""
    assert _talk(s, frame("?")) == b"T05thread:1;"
    regs = _talk(s, frame("g"))
    assert len(regs) == 16 * 8
    assert _talk(s, frame("p8")) == regs[64:72]
    s.sendall(frame("D").replace(b"#", b"#") )
    th.join(10)
    s.close()
    assert not th.is_alive()
