"""GDB's remote serial protocol: framing only (no meaning).

Contract
--------
``frame(payload) -> bytes`` is ``$payload#cs`` (payload: str, latin-1;
``$ # } *`` escaped as ``}`` + byte ^ 0x20).  ``Reader`` turns the bytes
gdb sends into events, however they arrive (a byte at a time or many
packets in one read)::

    r = Reader(max_packet=MAX_PACKET)
    for ev in r.feed(data):     # ("packet", body: bytes, good: bool)
        ...                     # ("toolong",)  a body over max_packet (dropped)
                                # ("interrupt",) a 0x03 byte between packets
                                # ("ack", b"+") / ("ack", b"-")

Every byte is looked at once: a packet that never ends costs memory only up
to ``max_packet`` (the rest is skipped until its ``#``) and time linear in
what arrived, never a rescan of what was read before.  A body's escapes are
undone (``unescape``); its checksum is checked over the escaped bytes, as
the protocol says.  Bytes between packets other than ``+ - 0x03`` are
ignored (gdb sends none).

Reference: GDB manual, appendix E "Remote Serial Protocol", "Overview"
(packet format, escapes, acknowledgement) and "Interrupts".
"""

from __future__ import annotations

MAX_PACKET = 0x10000        # gdb sends at most PacketSize (we say 0x4000)

_IDLE, _BODY, _SUM = 0, 1, 2


def checksum(data: bytes) -> int:
    return sum(data) & 0xFF


def escape(b: bytes) -> bytes:
    if not any(c in b for c in b"$#}*"):
        return b
    out = bytearray()
    for c in b:
        if c in b"$#}*":
            out += bytes((0x7D, c ^ 0x20))
        else:
            out.append(c)
    return bytes(out)


def unescape(b: bytes) -> bytes:
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


def frame(payload: str) -> bytes:
    b = escape(payload.encode("latin-1"))
    return b"$" + b + b"#" + f"{checksum(b):02x}".encode()


class Reader:
    def __init__(self, max_packet: int = MAX_PACKET) -> None:
        self.max = max_packet
        self.state = _IDLE
        self.body = bytearray()
        self.sum = bytearray()
        self.toolong = False

    def feed(self, data: bytes) -> list:
        events, i, n = [], 0, len(data)
        while i < n:
            if self.state == _IDLE:
                j = data.find(b"$", i)
                between = data[i:n if j < 0 else j]
                for c in between:
                    if c == 0x03:
                        events.append(("interrupt",))
                    elif c in b"+-":
                        events.append(("ack", bytes((c,))))
                if j < 0:
                    break
                self.state, self.toolong = _BODY, False
                self.body.clear()
                i = j + 1
            elif self.state == _BODY:
                j = data.find(b"#", i)
                part = data[i:n if j < 0 else j]
                if not self.toolong:
                    if len(self.body) + len(part) > self.max:
                        self.toolong = True
                        self.body.clear()
                    else:
                        self.body += part
                if j < 0:
                    break
                self.state = _SUM
                self.sum.clear()
                i = j + 1
            else:
                take = min(2 - len(self.sum), n - i)
                self.sum += data[i:i + take]
                i += take
                if len(self.sum) == 2:
                    events.append(self._finish())
                    self.state = _IDLE
        return events

    def _finish(self):
        if self.toolong:
            return ("toolong",)
        body = bytes(self.body)
        try:
            good = int(self.sum, 16) == checksum(body)
        except ValueError:
            good = False
        return ("packet", unescape(body), good)
