"""A GDB remote-protocol stub over the debugger's engine.

Contract
--------
``GdbStub(debugger, port, host="127.0.0.1").serve()`` listens, accepts one
GDB, answers its packets until it detaches (``D``), kills (``k``) or hangs
up, and returns 0.  Packets: ``?``, ``g``/``G`` (gdb's i386 order: eax ecx
edx ebx esp ebp esi edi eip eflags cs ss ds es fs gs), ``p``/``P``,
``m``/``M``, ``c``/``s`` (and ``vCont;c``/``vCont;s``), ``Z0``/``z0``
(breakpoints), ``Z2``/``z2`` (write watchpoints), ``Z3``/``z3`` (read),
``qSupported``, ``qAttached``, ``qC``, ``qfThreadInfo``/``qsThreadInfo``
(one thread per CPU), ``H``, ``D``, ``k``, ``vCont?``, and ``qRcmd``
(gdb's ``monitor CMD`` runs any REPL command: ``monitor info pic``,
``monitor info threads``, ``monitor bt``, ``monitor rsi``).  Anything else gets
the empty reply (unsupported); a malformed packet gets ``E01`` — never a
crash.  A 0x03 byte while the guest runs stops it (gdb's Ctrl-C).

Why not the ``udbserver`` package: it drives one Unicorn engine from its own
emulation loop (``udbserver(uc, port, start_addr)`` takes over ``emu_start``),
so it cannot step irqlab's machine (several engines, device deadlines, the
virtual clock), cannot stop on catchpoints (interrupts, checker violations),
and cannot share breakpoints with the REPL.  This stub is the protocol only;
every action goes through ``Debugger``, the same engine the REPL uses.

The stop replies: ``S05`` (SIGTRAP) for steps, breakpoints, catchpoints;
``T05watch:ADDR;`` / ``T05rwatch:ADDR;`` for watchpoints; ``S02`` after a
Ctrl-C; ``W<status>`` when the guest exited.
"""

from __future__ import annotations

import io
import select
import socket

from emulator.debugger.control import DebugError
from emulator.debugger.repl import Repl
from emulator.debugger.target import GDB_REGS, TargetError


class ProtocolError(Exception):
    pass


def checksum(data: bytes) -> int:
    return sum(data) & 0xFF


def frame(payload: str) -> bytes:
    b = payload.encode("latin-1")
    return b"$" + b + b"#" + f"{checksum(b):02x}".encode()


class GdbStub:
    def __init__(self, debugger, port: int, host: str = "127.0.0.1", log=None) -> None:
        self.d = debugger
        self.host, self.port = host, port
        self.log = log
        self.sock = None
        self.conn = None
        self.buf = b""
        self.ack = True
        self.bps: dict = {}          # (type, addr, len) -> point number
        self.done = False

    # transport ----------------------------------------------------------------
    def listen(self) -> int:
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind((self.host, self.port))
        s.listen(1)
        self.sock = s
        self.port = s.getsockname()[1]
        return self.port

    def serve(self) -> int:
        if self.sock is None:
            self.listen()
        if self.log is not None:
            self.log.write(f"gdb: listening on {self.host}:{self.port}\n")
            self.log.flush()
        self.conn, _ = self.sock.accept()
        try:
            while not self.done:
                pkt = self.read_packet()
                if pkt is None:
                    break
                reply = self.handle(pkt)
                if reply is not None:
                    self.send(reply)
        finally:
            self.conn.close()
            self.sock.close()
        return 0

    def _recv(self) -> bytes:
        data = self.conn.recv(4096)
        if not data:
            raise EOFError
        return data

    def read_packet(self):
        """The next packet's payload (str), or None when gdb hung up."""
        while True:
            try:
                while b"$" not in self.buf:
                    self.buf = self.buf.lstrip(b"+-\x03")
                    if self.buf and b"$" not in self.buf:
                        self.buf = b""
                    self.buf += self._recv()
                start = self.buf.index(b"$")
                while b"#" not in self.buf[start:] or len(self.buf) < self.buf.index(b"#", start) + 3:
                    self.buf += self._recv()
            except (EOFError, OSError):
                return None
            end = self.buf.index(b"#", start)
            body = self.buf[start + 1:end]
            cs = self.buf[end + 1:end + 3]
            self.buf = self.buf[end + 3:]
            try:
                good = int(cs, 16) == checksum(body)
            except ValueError:
                good = False
            if self.ack:
                self.conn.sendall(b"+" if good else b"-")
            if good:
                return _unescape(body).decode("latin-1")

    def send(self, payload: str) -> None:
        self.conn.sendall(frame(payload))
        if self.ack:
            # wait for '+'; a '-' asks for the packet again
            for _ in range(8):
                try:
                    r, _, _ = select.select([self.conn], [], [], 5)
                    if not r:
                        return
                    c = self.conn.recv(1)
                except OSError:
                    return
                if c == b"+" or not c:
                    return
                if c == b"-":
                    self.conn.sendall(frame(payload))
                else:
                    self.buf += c

    def _interrupt_pending(self) -> bool:
        try:
            r, _, _ = select.select([self.conn], [], [], 0)
            if not r:
                return False
            c = self.conn.recv(1)
        except OSError:
            return True
        if c == b"\x03" or not c:
            return True
        self.buf += c
        return False

    # packets --------------------------------------------------------------------------
    def handle(self, pkt: str):
        try:
            return self._dispatch(pkt)
        except (ProtocolError, ValueError, KeyError, IndexError, DebugError, TargetError):
            return "E01"
        except Exception:       # noqa: BLE001 - a bad packet must never kill the stub
            return "E01"

    def _dispatch(self, pkt: str):
        if not pkt:
            raise ProtocolError("empty packet")
        c, rest = pkt[0], pkt[1:]
        if c == "?":
            return "S05"
        if c == "g":
            return "".join(_le32(self.d.t.reg(n, self.d.cpu)) for n in GDB_REGS)
        if c == "G":
            if len(rest) < 8 * len(GDB_REGS):
                raise ProtocolError("short G")
            for i, n in enumerate(GDB_REGS):
                self.d.t.set_reg(n, _from_le(rest[8 * i:8 * i + 8]), self.d.cpu)
            self.d.changed()
            return "OK"
        if c == "p":
            n = int(rest, 16)
            if n >= len(GDB_REGS):
                return "E00" if n > 80 else "x" * 8
            return _le32(self.d.t.reg(GDB_REGS[n], self.d.cpu))
        if c == "P":
            n, v = rest.split("=")
            n = int(n, 16)
            if n >= len(GDB_REGS):
                raise ProtocolError("no such register")
            self.d.t.set_reg(GDB_REGS[n], _from_le(v), self.d.cpu)
            self.d.changed()
            return "OK"
        if c == "m":
            a, n = (int(x, 16) for x in rest.split(","))
            if n > 0x10000:
                raise ProtocolError("too long")
            return self.d.t.mem_read(a, n).hex()
        if c == "M":
            head, data = rest.split(":")
            a, n = (int(x, 16) for x in head.split(","))
            raw = bytes.fromhex(data)
            if len(raw) != n:
                raise ProtocolError("length mismatch")
            self.d.t.mem_write(a, raw)
            self.d.changed()
            return "OK"
        if c in "cs":
            if rest:
                self.d.t.set_reg("eip", int(rest, 16), self.d.cpu)
            return self._resume(c)
        if c in "Zz":
            return self._point(c == "Z", rest)
        if c == "H":
            return "OK"
        if c == "T":
            return "OK"
        if c == "D":
            self._clear_points()
            self.done = True
            self.conn.sendall(frame("OK"))     # gdb hangs up: no ack to wait for
            return None
        if c == "k":
            self.done = True
            return None
        if pkt.startswith("qSupported"):
            return "PacketSize=4000;swbreak+;hwbreak+;vContSupported+"
        if pkt.startswith("qAttached"):
            return "1"
        if pkt == "qC":
            return f"QC{self.d.cpu + 1:x}"
        if pkt == "qfThreadInfo":
            return "m" + ",".join(f"{i + 1:x}" for i in range(self.d.t.ncpus))
        if pkt == "qsThreadInfo":
            return "l"
        if pkt == "vCont?":
            return "vCont;c;C;s;S"
        if pkt.startswith("vCont;"):
            action = pkt[6:].split(";")[0][:1].lower()
            if action not in ("c", "s"):
                raise ProtocolError("vCont action")
            return self._resume(action)
        if pkt.startswith("vMustReplyEmpty"):
            return ""
        if pkt.startswith("qRcmd,"):
            return self._monitor(bytes.fromhex(pkt[6:]).decode("latin-1"))
        return ""

    def _monitor(self, line: str) -> str:
        """gdb's ``monitor CMD``: any REPL command (info pic, info threads, bt...)."""
        out = io.StringIO()
        if line.split()[:1] in (["quit"], ["q"], ["continue"], ["c"]):
            return ("use gdb's own command for that\n").encode().hex()
        Repl(self.d, stdin=io.StringIO(""), stdout=out).onecmd(line)
        text = out.getvalue() or "\n"
        return text.encode("utf-8", "replace").hex()

    def _resume(self, how: str) -> str:
        if how == "s":
            stop = self.d.stepi(1)
        else:
            stop = self.d.cont(poll=self._interrupt_pending)
        if stop.kind == "exited":
            st = self.d.exit_status if isinstance(self.d.exit_status, int) else 0
            self.done = True
            return f"W{st & 0xFF:02x}"
        if stop.kind == "interrupted":
            return "S02"
        if stop.kind == "watch" and stop.bp is not None:
            kind = "watch" if stop.bp.kind == "watch" else "rwatch"
            return f"T05{kind}:{stop.bp.addr:x};"
        return "S05"

    def _point(self, insert: bool, rest: str) -> str:
        typ, addr, kind = rest.split(",")[:3]
        typ, addr, length = int(typ), int(addr, 16), int(kind.split(";")[0], 16)
        if typ not in (0, 1, 2, 3):
            return ""
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


def _le32(v: int) -> str:
    return (v & 0xFFFFFFFF).to_bytes(4, "little").hex()


def _from_le(h: str) -> int:
    if len(h) != 8:
        raise ProtocolError("a register is 8 hex digits")
    return int.from_bytes(bytes.fromhex(h), "little")


def _unescape(b: bytes) -> bytes:
    if b"}" not in b:
        return b
    out, i = bytearray(), 0
    while i < len(b):
        if b[i] == 0x7D and i + 1 < len(b):
            out.append(b[i + 1] ^ 0x20)
            i += 2
        else:
            out.append(b[i])
            i += 1
    return bytes(out)
