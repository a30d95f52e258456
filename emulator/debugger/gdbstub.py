"""A GDB remote-protocol stub over the debugger's engine.

Contract
--------
``GdbStub(debugger, port, host="127.0.0.1").serve()`` listens, accepts one
GDB, answers its packets until it detaches (``D``), kills (``k``), the
guest exits, or gdb hangs up, and returns 0.  ``listen()`` raises
``OSError`` (a port in use, say); the command line turns it into one line.
There is no authentication: anyone who can connect to the port drives the
machine, so it binds 127.0.0.1 only, and nothing it serves touches the
host: ``monitor`` refuses the REPL's host commands (``source`` reads host
files; ``quit``), and ``continue``/``until``/``finish``/``run-for`` (gdb's
own commands run the machine, so gdb knows it ran).

Packets: ``?``, ``g``/``G`` (gdb's i386 order: eax ecx edx ebx esp ebp esi
edi eip eflags cs ss ds es fs gs), ``p``/``P``, ``m``/``M``, ``c``/``s``
(and ``vCont;c``/``vCont;s[:T]``), ``bs``/``bc`` (gdb's ``reverse-stepi``,
``reverse-continue``: the REPL's going back), ``Z0/z0`` (breakpoints at
linear addresses), ``Z2/z2`` (write watchpoints), ``Z3/z3`` (read),
``qSupported``, ``QStartNoAckMode``, ``qAttached``, ``qC``,
``qfThreadInfo``/``qsThreadInfo``, ``qThreadExtraInfo``, ``T``, ``H``,
``D``, ``k``, ``vCont?``, ``qRcmd`` (``monitor CMD``: a REPL command, its
output sent back).  Anything else gets the empty reply (unsupported); a
malformed or refused packet gets ``E01`` — never a crash.

Threads are CPUs: thread N is CPU N-1.  ``Hg N`` selects the CPU that
``g``/``G``/``p``/``P`` and the REPL's commands look at (``thread 2`` in gdb
shows CPU 1); ``Hc N`` (or ``vCont;s:N``) the CPU a step steps: the others
run their turns before it as the machine's round robin has them.  Every
stop reply names a thread: ``T05thread:N;`` (SIGTRAP: steps, breakpoints,
catchpoints), ``T05watch:ADDR;thread:N;`` / ``rwatch``, ``T02thread:N;``
after gdb's Ctrl-C (a 0x03 byte), ``T05replaylog:begin;...`` when
``bs``/``bc`` reach the start of the history.  A guest crash, triple fault
or deadlock is a stop, not an exit: its report goes to gdb's console
(``O`` packets) and the reply is ``T0b`` (SIGSEGV) or, for a deadlock,
``T06`` (SIGABRT), with the crashed state left to inspect.  ``W<status>``
when the guest exited (the session ends).

Transport: rsp.py's ``Reader`` (bounded, every byte read once), TCP_NODELAY
(a reply is one small write; without it each packet waited ~40 ms for the
peer's delayed ACK).  gdb hanging up, even while the guest runs, ends the
session with one line on the log.

Why not the ``udbserver`` package: it drives one Unicorn engine from its own
emulation loop, so it cannot step irqlab's machine (several engines, device
deadlines, the virtual clock), cannot stop on catchpoints, and cannot share
breakpoints with the REPL.  This stub is the protocol only; every action
goes through ``Debugger``, the same engine the REPL uses.
"""

from __future__ import annotations

import collections
import io
import select
import socket

from emulator.debugger import rsp
from emulator.debugger.control import DebugError
from emulator.debugger.repl import Repl
from emulator.debugger.target import GDB_REGS, TargetError

# stop signals (gdb's numbering, as in its stop replies)
SIGABRT, SIGINT, SIGTRAP, SIGSEGV = 0x06, 0x02, 0x05, 0x0B
MAX_MEM = 0x10000                  # bytes one m/M packet may move
MAX_WATCH = 4096                   # as the REPL's watch: 1..4096 bytes
HOST_ONLY = {"source": "it reads host files",
             "quit": "use gdb's detach or kill"}
GDB_RUNS = {"continue", "until", "finish", "run-for"}


class ProtocolError(Exception):
    pass


class HungUp(Exception):
    """gdb closed the connection."""


frame = rsp.frame                   # kept for callers and tests


class GdbStub:
    def __init__(self, debugger, port: int, host: str = "127.0.0.1", log=None) -> None:
        self.d = debugger
        self.host, self.port = host, port
        self.log = log
        self.sock = None
        self.conn = None
        self.reader = rsp.Reader()
        self.events: collections.deque = collections.deque()
        self.ack = True
        self.bps: dict = {}          # (type, addr, len) -> point number
        self.step_cpu = None         # Hc: the CPU a step steps (None: the selected one)
        self.done = False
        self.hung_up = False

    # transport ----------------------------------------------------------------
    def listen(self) -> int:
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind((self.host, self.port))
            s.listen(1)
        except OSError:
            s.close()
            raise
        self.sock = s
        self.port = s.getsockname()[1]
        return self.port

    def _say(self, text: str) -> None:
        if self.log is not None:
            self.log.write(text + "\n")
            self.log.flush()

    def serve(self) -> int:
        if self.sock is None:
            self.listen()
        self._say(f"gdb: listening on {self.host}:{self.port}")
        self.conn, _ = self.sock.accept()
        self.conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        try:
            while not self.done:
                pkt = self.read_packet()
                if pkt is None:
                    break
                reply = self.handle(pkt)
                if reply is not None:
                    self.send(reply)
        except HungUp:
            pass
        finally:
            self.conn.close()
            self.sock.close()
        if self.hung_up and not self.done:
            self._say(f"gdb: the debugger hung up; session ended at t={self.d.t.now}")
        return 0

    def _fill(self, timeout=None) -> bool:
        """Read what gdb sent (waiting up to ``timeout``; None: until
        something comes) into ``events``; False when nothing came."""
        if timeout is not None:
            r, _, _ = select.select([self.conn], [], [], timeout)
            if not r:
                return False
        try:
            data = self.conn.recv(65536)
        except OSError:
            data = b""
        if not data:
            self.hung_up = True
            raise HungUp()
        evs = self.reader.feed(data)
        self.events.extend(e for e in evs if self.ack or e[0] != "ack")   # no-ack mode: ignore
        return True

    def read_packet(self):
        """The next packet's payload (str), or None when gdb hung up."""
        try:
            while True:
                while not self.events:
                    self._fill()
                ev = self.events.popleft()
                if ev[0] == "toolong":
                    self._ack(True)
                    self.send("E01")
                elif ev[0] == "packet":
                    self._ack(ev[2])
                    if ev[2]:
                        return ev[1].decode("latin-1")
        except HungUp:
            return None

    def _ack(self, good: bool) -> None:
        if self.ack:
            self._write(b"+" if good else b"-")

    def _write(self, data: bytes) -> None:
        try:
            self.conn.sendall(data)
        except OSError:
            self.hung_up = True
            raise HungUp() from None

    def send(self, payload: str) -> None:
        """Send a reply; with acks on, wait for gdb's '+' ('-' resends)."""
        self._write(rsp.frame(payload))
        if not self.ack:
            return
        for _ in range(8):
            acks = [e for e in self.events if e[0] == "ack"]
            while not acks:
                if not self._fill(timeout=5):
                    return
                acks = [e for e in self.events if e[0] == "ack"]
            self.events.remove(acks[0])
            if acks[0][1] == b"+":
                return
            self._write(rsp.frame(payload))

    def _interrupt_pending(self) -> bool:
        """While the guest runs: gdb's Ctrl-C (0x03), or gdb hung up."""
        try:
            while self._fill(timeout=0):
                pass
        except HungUp:
            return True
        hit = [e for e in self.events if e[0] == "interrupt"]
        for e in hit:
            self.events.remove(e)
        return bool(hit)

    # packets --------------------------------------------------------------------------
    def handle(self, pkt: str):
        try:
            return self._dispatch(pkt)
        except HungUp:
            raise
        except (ProtocolError, ValueError, KeyError, IndexError, DebugError, TargetError):
            return "E01"
        except Exception:       # noqa: BLE001 - a bad packet must never kill the stub
            return "E01"

    def _dispatch(self, pkt: str):
        if not pkt:
            raise ProtocolError("empty packet")
        c, rest = pkt[0], pkt[1:]
        simple = {"?": lambda: self._stop_reply(SIGTRAP), "g": self._read_regs,
                  "G": lambda: self._write_regs(rest), "p": lambda: self._read_reg(rest),
                  "P": lambda: self._write_reg(rest), "m": lambda: self._read_mem(rest),
                  "M": lambda: self._write_mem(rest), "H": lambda: self._select(rest),
                  "T": lambda: "OK" if self._thread(rest) is not None else "E01"}
        if c in simple:
            return simple[c]()
        if c in "cs" and (not rest or _is_hex(rest)):
            if rest:
                self.d.t.set_reg("eip", int(rest, 16), self.d.cpu)
            return self._resume(c, self.step_cpu)
        if pkt in ("bs", "bc"):
            return self._reverse(pkt[1])
        if c in "Zz":
            return self._point(c == "Z", rest)
        if c == "D":
            self._clear_points()
            self.done = True
            self._write(rsp.frame("OK"))     # gdb hangs up: no ack to wait for
            return None
        if c == "k":
            self.done = True
            return None
        return self._query(pkt)

    def _query(self, pkt: str):
        if pkt.startswith("qSupported"):
            return ("PacketSize=4000;swbreak+;hwbreak+;vContSupported+;QStartNoAckMode+;"
                    "ReverseStep+;ReverseContinue+")
        if pkt == "QStartNoAckMode":
            self.send("OK")
            self.ack = False
            return None
        if pkt.startswith("qAttached"):
            return "1"
        if pkt == "qC":
            return f"QC{self.d.cpu + 1:x}"
        if pkt == "qfThreadInfo":
            return "m" + ",".join(f"{i + 1:x}" for i in range(self.d.t.ncpus))
        if pkt == "qsThreadInfo":
            return "l"
        if pkt.startswith("qThreadExtraInfo,"):
            cpu = self._thread(pkt.split(",", 1)[1])
            if cpu is None:
                return "E01"
            mode = " 16-bit" if self.d.t.code_bits(cpu) == 16 else ""
            return f"CPU {cpu} {self.d.t.cpu_state(cpu)}{mode}".encode().hex()
        if pkt == "vCont?":
            return "vCont;c;C;s;S"
        if pkt.startswith("vCont;"):
            return self._vcont(pkt[6:])
        if pkt.startswith("qRcmd,"):
            return self._monitor(bytes.fromhex(pkt[6:]).decode("latin-1"))
        return ""

    # registers and memory --------------------------------------------------------------
    def _read_regs(self) -> str:
        return "".join(_le32(self.d.t.reg(n, self.d.cpu)) for n in GDB_REGS)

    def _write_regs(self, rest: str) -> str:
        if len(rest) < 8 * len(GDB_REGS):
            raise ProtocolError("short G")
        values = [_from_le(rest[8 * i:8 * i + 8]) for i in range(len(GDB_REGS))]
        self.d.fork()
        for n, v in zip(GDB_REGS, values):
            self.d.t.set_reg(n, v, self.d.cpu)
        self.d.changed()
        return "OK"

    def _read_reg(self, rest: str) -> str:
        n = _hex(rest)
        if n >= len(GDB_REGS):
            return "E00" if n > 80 else "x" * 8       # gdb asks for x87/SSE: unavailable
        return _le32(self.d.t.reg(GDB_REGS[n], self.d.cpu))

    def _write_reg(self, rest: str) -> str:
        n, v = rest.split("=")
        n = _hex(n)
        if n >= len(GDB_REGS):
            raise ProtocolError("no such register")
        value = _from_le(v)
        self.d.fork()
        self.d.t.set_reg(GDB_REGS[n], value, self.d.cpu)
        self.d.changed()
        return "OK"

    def _read_mem(self, rest: str) -> str:
        a, n = (_hex(x) for x in rest.split(","))
        if n > MAX_MEM or a > 0xFFFFFFFF:
            raise ProtocolError("too long")
        return self.d.t.mem_read(a, n).hex()

    def _write_mem(self, rest: str) -> str:
        head, data = rest.split(":")
        a, n = (_hex(x) for x in head.split(","))
        raw = bytes.fromhex(data)
        if len(raw) != n or n > MAX_MEM or a > 0xFFFFFFFF:
            raise ProtocolError("length mismatch")
        self.d.fork()
        self.d.t.mem_write(a, raw)
        self.d.changed()
        return "OK"

    # threads ---------------------------------------------------------------------------
    def _thread(self, text: str):
        """gdb's thread id -> CPU index (None when there is no such thread)."""
        if not _is_hex(text):
            return None
        tid = int(text, 16)
        return tid - 1 if 1 <= tid <= self.d.t.ncpus else None

    def _select(self, rest: str) -> str:
        op, tid = rest[:1], rest[1:]
        if op not in ("g", "c"):
            raise ProtocolError("H what?")
        if tid in ("0", "-1"):          # any / all threads
            if op == "c":
                self.step_cpu = None
            return "OK"
        cpu = self._thread(tid)
        if cpu is None:
            return "E01"
        if op == "g":
            self.d.cpu = cpu
        else:
            self.step_cpu = cpu
        return "OK"

    # running -----------------------------------------------------------------------------
    def _vcont(self, actions: str):
        step_cpu, how = None, None
        for act in actions.split(";"):
            what, _, tid = act.partition(":")
            kind = what[:1].lower()
            if kind not in ("c", "s"):
                raise ProtocolError("vCont action")
            if kind == "s" and how != "s":
                how = "s"
                step_cpu = self._thread(tid) if tid else None
                if tid and step_cpu is None:
                    return "E01"
            elif how is None:
                how = "c"
        if how is None:
            raise ProtocolError("empty vCont")
        return self._resume(how, step_cpu)

    def _resume(self, how: str, cpu=None):
        self.d.poll = self._interrupt_pending       # gdb's Ctrl-C, or a hang-up
        try:
            if how == "s":
                stop = self.d.stepi_cpu(cpu) if cpu is not None else self.d.stepi(1)
            else:
                stop = self.d.cont()
        finally:
            self.d.poll = None
        if self.hung_up:
            raise HungUp()
        return self._stop_reply_for(stop)

    def _reverse(self, how: str):
        stop = self.d.reverse_stepi(1) if how == "s" else self.d.reverse_cont()
        if self.d.t.now == self.d.history.earliest() and stop.bp is None:
            return f"T05replaylog:begin;thread:{self.d.cpu + 1:x};"
        return self._stop_reply_for(stop)

    def _stop_reply(self, sig: int, extra: str = "") -> str:
        return f"T{sig:02x}{extra}thread:{self.d.cpu + 1:x};"

    def _stop_reply_for(self, stop) -> str:
        if stop.kind == "exited":
            st = self.d.exit_status if isinstance(self.d.exit_status, int) else 0
            self.done = True
            return f"W{st & 0xFF:02x}"
        if stop.kind == "crashed":
            self._console(stop.text)
            return self._stop_reply(SIGABRT if "deadlock" in stop.text.split("\n")[0] else SIGSEGV)
        if stop.kind == "interrupted":
            return self._stop_reply(SIGINT)
        if stop.kind == "watch" and stop.bp is not None:
            kind = "watch" if stop.bp.kind == "watch" else "rwatch"
            return self._stop_reply(SIGTRAP, f"{kind}:{stop.bp.addr:x};")
        return self._stop_reply(SIGTRAP)

    def _console(self, text: str) -> None:
        """Text for gdb's console (``O`` packets), before a stop reply."""
        data = (text.rstrip("\n") + "\n").encode("utf-8", "replace")
        for k in range(0, len(data), 1024):
            self.send("O" + data[k:k + 1024].hex())

    # monitor -----------------------------------------------------------------------------
    def _monitor(self, line: str) -> str:
        """gdb's ``monitor CMD``: a REPL command (info pic, info threads, bt...)."""
        out = io.StringIO()
        repl = Repl(self.d, stdin=io.StringIO(""), stdout=out)
        try:
            name = repl.resolve(line.split()[0]) if line.split() else None
        except DebugError:
            name = None                 # ambiguous: onecmd says so
        if name in HOST_ONLY:
            text = f"monitor {name}: not served over the GDB stub ({HOST_ONLY[name]})\n"
        elif name in GDB_RUNS:
            text = f"monitor {name}: use gdb's own command for that\n"
        else:
            self.d.poll = self._interrupt_pending       # a long 'si N' stops on hang-up
            try:
                repl.onecmd(line)
            finally:
                self.d.poll = None
            text = out.getvalue() or "\n"
        if self.hung_up:
            raise HungUp()
        return text.encode("utf-8", "replace").hex()

    # points ------------------------------------------------------------------------------
    def _point(self, insert: bool, rest: str) -> str:
        typ, addr, kind = rest.split(",")[:3]
        typ, addr, length = _hex(typ), _hex(addr), _hex(kind.split(";")[0])
        if typ not in (0, 1, 2, 3):
            return ""
        if addr > 0xFFFFFFFF:
            raise ProtocolError("address above 4 GiB")
        if typ >= 2 and not 1 <= length <= MAX_WATCH:
            raise ProtocolError(f"watch length {length} out of range")
        key = (typ, addr, length if typ >= 2 else 0)
        if insert:
            if key not in self.bps:
                kind_name = {0: "break", 1: "break", 2: "watch", 3: "rwatch"}[typ]
                p = self.d.add_point(kind_name, addr=addr, length=length if typ >= 2 else 0)
                self.bps[key] = p.num
            return "OK"
        num = self.bps.pop(key, None)
        if num is not None and num in self.d.points:
            self.d.delete_point(num)
        return "OK"

    def _clear_points(self) -> None:
        for num in list(self.bps.values()):
            if num in self.d.points:
                self.d.delete_point(num)
        self.bps.clear()


def _is_hex(s: str) -> bool:
    return bool(s) and all(c in "0123456789abcdefABCDEF" for c in s)


def _hex(s: str) -> int:
    """A protocol number: hex digits only (no sign, no 0x, no spaces)."""
    if not _is_hex(s):
        raise ProtocolError(f"not a hex number: {s[:16]!r}")
    return int(s, 16)


def _le32(v: int) -> str:
    return (v & 0xFFFFFFFF).to_bytes(4, "little").hex()


def _from_le(h: str) -> int:
    if len(h) != 8 or not _is_hex(h):
        raise ProtocolError("a register is 8 hex digits")
    return int.from_bytes(bytes.fromhex(h), "little")
