import shutil
import socket
import subprocess
import threading

import pytest

from emulator.debugger.gdbstub import GdbStub, frame
from tests.emulator.debugger.conftest import build_loop


def start_stub(dbg):
    stub = GdbStub(dbg, 0)
    port = stub.listen()
    th = threading.Thread(target=stub.serve, daemon=True)
    th.start()
    return port, th


@pytest.mark.skipif(shutil.which("gdb") is None, reason="gdb is not installed")
def test_debian_gdb_breaks_at_a_symbol_reads_a_register_steps_and_detaches(tmp_path):
    dbg, paths = build_loop(tmp_path)
    port, th = start_stub(dbg)
    r = subprocess.run(
        ["gdb", "-batch", "-nx", "-ex", "set architecture i386",
         "-ex", f"target remote 127.0.0.1:{port}", "-ex", "break bump", "-ex", "continue",
         "-ex", "p/x $eip", "-ex", "p $ecx", "-ex", "stepi", "-ex", "p/x $pc",
         "-ex", "detach", paths["elf"]],
        capture_output=True, text=True, timeout=60)
    out = r.stdout
    assert "Breakpoint 1, bump" in out, out + r.stderr
    assert f"$1 = {paths['bump']:#x}" in out
    assert "$2 = 0" in out
    assert f"$3 = {paths['bump'] + 5:#x}" in out
    assert "detached" in out
    th.join(10)
    assert not th.is_alive()


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
    assert _talk(s, frame("?")) == b"S05"
    regs = _talk(s, frame("g"))
    assert len(regs) == 16 * 8
    assert _talk(s, frame("p8")) == regs[64:72]
    s.sendall(frame("D").replace(b"#", b"#") )
    th.join(10)
    s.close()
    assert not th.is_alive()
