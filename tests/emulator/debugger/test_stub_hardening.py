"""The GDB stub against a hostile or careless client (issue 16): nothing of
the host is served, packets are read in bounded memory, threads are CPUs,
a crash is a stop, and the reverse packets work.

The GDB protocol facts checked are from the GDB manual, appendix E
("Remote Serial Protocol": packet format; "Stop Reply Packets": T AA
n1:r1;..., thread:N, replaylog:begin; "General Query Packets":
qfThreadInfo/qsThreadInfo; "Packets": H op thread-id, bs, bc, T thread-id).
"""

import socket
import threading

import asm
from emulator.debugger import rsp
from emulator.debugger.control import Debugger
from emulator.debugger.gdbstub import GdbStub, frame
from emulator.machine import Machine
from tests.emulator.debugger.conftest import build_loop
from tests.emulator.debugger.test_smp_views import PROBES, smp_debugger


class Client:
    """A minimal gdb: sends packets, acks replies, collects O packets."""

    def __init__(self, dbg):
        self.stub = GdbStub(dbg, 0)
        port = self.stub.listen()
        self.th = threading.Thread(target=self.stub.serve, daemon=True)
        self.th.start()
        self.s = socket.create_connection(("127.0.0.1", port), timeout=30)
        self.buf = b""
        self.console = ""

    def _reply(self) -> bytes:
        while True:
            while b"$" not in self.buf or b"#" not in self.buf[self.buf.index(b"$"):] or \
                    len(self.buf) < self.buf.index(b"#", self.buf.index(b"$")) + 3:
                self.buf += self.s.recv(65536)
            start = self.buf.index(b"$")
            end = self.buf.index(b"#", start)
            body, self.buf = self.buf[start + 1:end], self.buf[end + 3:]
            self.s.sendall(b"+")
            if body.startswith(b"O") and body != b"OK":
                self.console += bytes.fromhex(body[1:].decode()).decode()
                continue
            return body

    def ask(self, payload: str) -> bytes:
        self.s.sendall(frame(payload))
        return self._reply()

    def monitor(self, cmd: str) -> str:
        return bytes.fromhex(self.ask("qRcmd," + cmd.encode().hex()).decode()).decode()

    def bye(self):
        self.s.sendall(frame("k"))
        self.th.join(30)
        self.s.close()
        assert not self.th.is_alive()


# -- nothing of the host -----------------------------------------------------------------

def test_monitor_source_of_a_host_file_is_refused_and_shows_none_of_it(tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_text("root:x:0:0:SECRET-LINE\n")
    d, _ = build_loop(tmp_path)
    c = Client(d)
    for cmd in (f"source {secret}", f"sou {secret}", f"so {secret}"):
        out = c.monitor(cmd)
        assert "SECRET" not in out, cmd
        assert "not served over the GDB stub" in out or "Ambiguous" in out, out
    assert "not served" in c.monitor("quit")
    assert "use gdb's own command" in c.monitor("continue")
    assert "pic master" in c.monitor("info pic")           # the rest still works
    c.bye()


# -- packets -----------------------------------------------------------------------------

def test_a_packet_without_its_end_is_read_in_bounded_memory_and_dropped():
    r = rsp.Reader(max_packet=4096)
    r.feed(b"$m0,4")
    for _ in range(2048):                       # 8 MiB, no '#'
        assert r.feed(b"A" * 4096) == []
        assert len(r.body) <= 4096
    assert r.feed(b"#00$?#3f") == [("toolong",), ("packet", b"?", True)]


def test_the_reader_takes_packets_split_anywhere_and_many_in_one_read():
    data = frame("g") + b"+\x03" + frame("m100,4") + frame("X}]")
    one = rsp.Reader().feed(data)
    r = rsp.Reader()
    split = []
    for k in range(len(data)):
        split += r.feed(data[k:k + 1])
    assert one == split == [("packet", b"g", True), ("ack", b"+"), ("interrupt",),
                            ("packet", b"m100,4", True), ("packet", b"X}]", True)]


def test_an_endless_packet_over_the_socket_gets_e01_and_the_stub_serves_on(tmp_path):
    d, _ = build_loop(tmp_path)
    c = Client(d)
    c.s.sendall(b"$" + b"9" * (1 << 20))        # 1 MiB, no '#'
    c.s.sendall(b"#00")
    assert c._reply() == b"E01"
    assert c.ask("?") == b"T05thread:1;"
    c.bye()


def test_replies_go_out_without_nagle_delay(tmp_path):
    d, _ = build_loop(tmp_path)
    c = Client(d)
    assert c.ask("qC") == b"QC1"
    assert c.stub.conn.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) != 0
    c.bye()


def test_p_minus_one_is_an_error_not_gs(tmp_path):
    d, _ = build_loop(tmp_path)
    c = Client(d)
    assert c.ask("p-1") == b"E01"
    assert c.ask("p 8") == b"E01"
    assert c.ask("pf") == d.t.reg("gs").to_bytes(4, "little").hex().encode()
    c.bye()


def test_watchpoints_of_length_zero_or_a_mebibyte_or_above_4_gib_are_refused(tmp_path):
    d, p = build_loop(tmp_path)
    c = Client(d)
    counter = p["counter"]
    assert c.ask(f"Z2,{counter:x},0") == b"E01"
    assert c.ask(f"Z2,{counter:x},100000") == b"E01"
    assert c.ask("Z2,100000000,4") == b"E01"
    assert c.ask("Z0,100000000,1") == b"E01"
    assert not d.points
    assert c.ask(f"Z2,{counter:x},4") == b"OK"
    c.bye()


CRASH = """\
_start:
        mov eax, 7
        mov ebx, 0x10000000         # outside the 4 MiB of RAM
        jmp ebx
"""


def test_a_guest_crash_is_a_stop_signal_with_its_report_and_the_state_kept(tmp_path):
    src = tmp_path / "crash.S"
    src.write_text(CRASH)
    asm.assemble([str(src)]).write(str(tmp_path / "crash.bin"), elf=str(tmp_path / "crash.elf"))
    d = Debugger(Machine.from_image(str(tmp_path / "crash.elf"), mem_mib=4), max_run=10_000)
    c = Client(d)
    reply = c.ask("c")
    assert reply == b"T0bthread:1;"                     # SIGSEGV, not W7e
    assert "crash" in c.console and "unmapped" in c.console
    regs = c.ask("g")
    assert regs[:8] == b"07000000"                      # eax of the crashed state
    assert c.ask("?") == b"T05thread:1;"                # still connected, still there
    c.bye()


def test_the_guest_exiting_is_a_w_reply(tmp_path):
    src = tmp_path / "exit.S"
    src.write_text("_start:\n        mov al, 3\n        out 0xf4, al\n        hlt\n")
    asm.assemble([str(src)]).write(str(tmp_path / "exit.bin"), elf=str(tmp_path / "exit.elf"))
    d = Debugger(Machine.from_image(str(tmp_path / "exit.elf"), mem_mib=4), max_run=10_000)
    c = Client(d)
    assert c.ask("c") == b"W03"
    c.th.join(30)
    assert not c.th.is_alive()
    c.s.close()


# -- threads are CPUs --------------------------------------------------------------------

def test_thread_list_has_one_thread_per_cpu_and_hg_selects_whose_registers_g_reads(tmp_path):
    d, syms = smp_debugger(tmp_path)
    c = Client(d)
    assert c.ask("qfThreadInfo") == b"m1,2" and c.ask("qsThreadInfo") == b"l"
    assert c.ask("T2") == b"OK" and c.ask("T3") == b"E01" and c.ask("Hg3") == b"E01"
    assert c.ask(f"Z0,{syms['ap_hello']:x},1") == b"OK"
    assert c.ask("c") == b"T05thread:2;"                # the AP hit it
    assert c.ask("Hg1") == b"OK"
    eip0 = int.from_bytes(bytes.fromhex(c.ask("p8").decode()), "little")
    assert c.ask("Hg2") == b"OK"
    eip1 = int.from_bytes(bytes.fromhex(c.ask("p8").decode()), "little")
    assert eip1 == syms["ap_hello"] and eip0 != eip1
    assert b"running" in bytes.fromhex(c.ask("qThreadExtraInfo,2").decode())
    c.bye()


SPIN2 = """\
        .include "lib.S"
        .text
main:
        mov dword ptr [ap_main], ap_spin
        mov eax, 1
        call start_ap
bsp_spin:
        inc ecx
        jmp bsp_spin
ap_spin:
        call lapic_enable
        call ap_signal_done
ap_loop:
        inc edx
        jmp ap_loop
"""


def spin2_debugger(tmp_path):
    src = tmp_path / "spin2.S"
    src.write_text(SPIN2)
    img = asm.assemble([src], include_dirs=[PROBES], defines={"NCPUS": 2})
    img.write(str(tmp_path / "spin2.bin"), elf=str(tmp_path / "spin2.elf"))
    m = Machine.from_image(str(tmp_path / "spin2.elf"), cpus=2)
    m.console = lambda data: None
    return Debugger(m, max_run=100_000), {n: s.value for n, s in img.symbols.items()}


def test_hc_makes_a_step_step_that_cpu_while_both_cpus_run(tmp_path):
    d, syms = spin2_debugger(tmp_path)
    c = Client(d)
    for where, thread in (("ap_loop", 2), ("bsp_spin", 1)):     # both CPUs in their loops
        assert c.ask(f"Z0,{syms[where]:x},1") == b"OK"
        assert c.ask("c") == f"T05thread:{thread};".encode()
        assert c.ask(f"z0,{syms[where]:x},1") == b"OK"
    loops = {1: (syms["bsp_spin"], "ecx"), 2: (syms["ap_loop"], "edx")}
    for cpu in (1, 2, 2, 1, 2, 1, 1):
        loop, reg = loops[cpu]
        pc, count = d.t.pc(cpu - 1), d.t.reg(reg, cpu - 1)
        assert c.ask(f"Hc{cpu}") == b"OK"
        assert c.ask("s") == f"T05thread:{cpu};".encode()
        # one instruction of that CPU: 'inc' (the count goes up) or 'jmp' back
        if pc == loop:
            assert d.t.pc(cpu - 1) == loop + 1 and d.t.reg(reg, cpu - 1) == count + 1
        else:
            assert d.t.pc(cpu - 1) == loop and d.t.reg(reg, cpu - 1) == count
    assert c.ask("vCont;s:2;c") == b"T05thread:2;"
    c.bye()


# -- going back --------------------------------------------------------------------------

def test_bs_goes_back_one_instruction_and_bc_to_the_previous_breakpoint_hit(tmp_path):
    d, p = build_loop(tmp_path)
    c = Client(d)
    assert c.ask(f"Z0,{p['bump']:x},1") == b"OK"
    assert c.ask("c") == b"T05thread:1;"
    assert c.ask("c") == b"T05thread:1;"
    t_second = d.t.now
    assert c.ask("s") == b"T05thread:1;" and d.t.now == t_second + 1
    assert c.ask("bs") == b"T05thread:1;" and d.t.now == t_second
    assert c.ask("bc") == b"T05thread:1;"
    assert d.pc == p["bump"] and d.t.now < t_second
    assert c.ask("bc") == b"T05replaylog:begin;thread:1;" and d.t.now == 0
    c.bye()
