"""The REPL and the GDB stub survive any input (issue 16): seeded random
commands and packets, bounded in number and in what each may run; every
one gets its answer (a line, a reply), none a traceback, and the session
is still usable afterwards."""

import io
import random
import socket

from emulator.debugger import rsp
from emulator.debugger.repl import COMMANDS, Quit, Repl
from tests.emulator.debugger.conftest import build_loop
from tests.emulator.debugger.test_stub_hardening import Client

WORDS = ["bump", "counter", "again", "_start", "$eax", "$pc", "$sp", "$cr0", "*", "**", "0x",
         "0", "1", "-1", "4294967296", "0x100000", "999999999999999999999", "(", ")", "if",
         "=", "==", "/", "%", ":", "loop.S:14", "*0x100000", "x", "$", "'", '"', "\\", "#",
         "irq", "switch", "violation", "raise", "pulse", "5", "15", "24", "tail", "var",
         "\x00", "\x1b[A", "é", "\ufeff", "a" * 300, "1" * 400, "-" * 50, "((((((((((", "~!"]
SAFE_COUNTS = ["", "1", "3", "0", "-2", "zz"]     # execution stays short
RUNNERS = {"stepi", "nexti", "reverse-stepi", "run-for"}
UNBOUNDED = {"continue", "until", "finish"}       # bounded by max_run (build_loop)


def random_command(rng: random.Random) -> str:
    name, aliases, _h = rng.choice(COMMANDS)
    word = rng.choice([name] + aliases + [name[:max(1, len(name) - 2)]])
    if name in RUNNERS:
        return f"{word} {rng.choice(SAFE_COUNTS)}"
    if name == "source":
        return f"{word} {rng.choice(['/nonexistent', '', '/dev/null', '/'])}"
    if name == "x":
        return "x/" + "".join(rng.choice("0123456789xduotacsibhwgz") for _ in range(rng.randint(0, 4))) \
            + " " + rng.choice(["counter", "$sp", "0", "0xffffffff", "", "bump"])
    args = " ".join(rng.choice(WORDS) for _ in range(rng.randint(0, 4)))
    return f"{word} {args}".strip()


def test_the_repl_survives_three_hundred_random_commands(tmp_path):
    d, _p = build_loop(tmp_path, max_run=20_000)
    rng = random.Random(16)
    out = io.StringIO()
    repl = Repl(d, stdin=io.StringIO(""), stdout=out)
    for _ in range(300):
        line = random_command(rng)
        before = len(out.getvalue())
        try:
            repl.onecmd(line)
        except Quit:
            pass
        said = out.getvalue()[before:]
        assert "Traceback" not in said, line
        assert " failed: " not in said, (line, said)      # onecmd's catch-all: a bug
    out.truncate(0)
    repl.onecmd("p 6*7")
    assert "42 (0x2a)" in out.getvalue()


PACKETS = ["g", "G", "G" + "0" * 128, "p", "p8", "p-1", "pzz", "P8=", "P8=00001000", "P99=0",
           "m", "m0,4", "m100000,40", "mffffffff,10", "m-1,4", "m100000,1000000",
           "M100000,1:", "M100000,1:zz", "M0,0:", "X0,0:", "?", "H", "Hg0", "Hg1", "Hg2", "Hc-1",
           "Hx", "T1", "T0", "T", "qC", "qfThreadInfo", "qsThreadInfo", "qThreadExtraInfo,1",
           "qThreadExtraInfo,zz", "qSupported:xmlRegisters=i386", "qAttached", "qRcmd,",
           "qRcmd,zz", "qRcmd," + b"info pic".hex(), "qRcmd," + b"source /etc/passwd".hex(),
           "qRcmd," + b"\xff\xfe".hex(), "vCont?", "vCont;", "vCont;x", "vCont;s:9", "vCont;s",
           "Z0,100000,1", "z0,100000,1", "Z2,0,0", "Z3,100050,4", "z3,100050,4",
           "Z9,1,1", "Z0,,", "Z0", "bs", "bc", "bx", "s", "c", "szz", "vMustReplyEmpty",
           "QStartNoAckMode", "!", "", "qXfer:features:read:target.xml:0,fff", "\x7f\x80"]


def test_the_stub_survives_three_hundred_random_packets_and_bytes(tmp_path):
    d, _p = build_loop(tmp_path, max_run=20_000)
    c = Client(d)
    rng = random.Random(16)
    acks = True
    for _ in range(300):
        r = rng.random()
        if r < 0.1:                                  # noise between packets
            c.s.sendall(bytes(rng.choice(b"+-\x03xyz#}") for _ in range(rng.randint(1, 20))))
            continue
        if r < 0.2:                                  # a random body, maybe a wrong checksum
            body = "".join(chr(rng.randint(32, 126)) for _ in range(rng.randint(1, 40)))
            if body[0] in "Dk":
                body = "q" + body                    # not detach / kill: the session goes on
            data = rsp.frame(body)
            if rng.random() < 0.5 and data[-2:] != b"00":
                c.s.sendall(data[:-2] + b"00")       # dropped: a NAK (acks on) or nothing
                continue
            c.s.sendall(data)
            reply = c._reply()
        else:
            pkt = rng.choice(PACKETS)
            if pkt == "QStartNoAckMode":
                acks = False
            reply = c.ask(pkt)
        assert reply is not None
        assert c.th.is_alive()
    assert c.ask("?").startswith(b"T05thread:1;") or c.ask("?").startswith(b"T")
    c.s.sendall(rsp.frame("k"))
    c.th.join(30)
    assert not c.th.is_alive()
    c.s.close()


def test_a_packet_with_a_wrong_checksum_gets_a_nak_and_no_reply(tmp_path):
    d, _p = build_loop(tmp_path)
    c = Client(d)
    c.s.sendall(b"$g#00")
    assert c.s.recv(1) == b"-"
    assert c.ask("qC") == b"QC1"                       # the next good one is answered
    c.bye()


def test_an_exploding_socket_peer_does_not_take_the_stub_with_it(tmp_path):
    d, _p = build_loop(tmp_path)
    c = Client(d)
    c.s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
    c.s.sendall(rsp.frame("g"))
    c.s.close()                                        # reset while the reply is on its way
    c.th.join(30)
    assert not c.th.is_alive()


def test_huge_counts_and_shifts_are_refused_or_bounded_not_a_hang(tmp_path):
    from tests.emulator.debugger.conftest import drive
    d, _p = build_loop(tmp_path)
    out = drive(d, "disassemble bump 999999999999\nbt 99999999\nx/9999999xw 0\n"
                   "p 1 << 4294967296\np -8 >> 100\np 1 << -1\n")
    assert out.count("error:") == 4, out
    assert "the count is at most 4096" in out and "x/9999999xw: the count is 1..65536" in out
    assert "0 (0x0)" in out and "-1 (0xffffffff)" in out and "negative shift count" in out
