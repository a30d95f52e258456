"""Interrupt injection from Python: the ``--inject`` specs and their API.

Forms (``N`` an ISA IRQ number, times in instructions = virtual ns):

* ``irq=N,at=T``                       -- one edge on line N at time T;
* ``irq=N,every=P[,from=T][,count=K]`` -- an edge every P from T (default P);
* ``irq=N,pc=SYMBOL[+OFF][,hit=K]``    -- an edge when execution reaches the
  address (SYMBOL, SYMBOL+OFF or a number) for the K-th time (default 1),
  before that instruction runs;
* the same with ``packet=VALUE`` instead of (or with) ``irq=N``: VALUE is
  pushed into the test device's FIFO, which raises its own line;
* or with ``key=BYTE``: the keyboard sends BYTE to the 8042 (a key
  pressed), which raises IRQ 1 when its interrupt is on (the trace's
  ``inject`` event then has a ``key`` field too).

An edge is a pulse at the PIC input (``Machine.raise_irq``).  ``parse``
raises ``InjectError`` with one line for the user.  Scenario scripts build
``Injection`` objects directly and call ``machine.inject(inj)``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional


class InjectError(ValueError):
    """A malformed --inject spec (one line)."""


@dataclass
class Injection:
    irq: Optional[int] = None
    packet: Optional[int] = None
    at: Optional[int] = None
    key: Optional[int] = None
    every: Optional[int] = None
    start: Optional[int] = None
    count: Optional[int] = None
    pc: Optional[str] = None
    hit: int = 1

    def fire(self, machine) -> None:
        if self.packet is not None:
            machine.devices["testdev"].push(self.packet)
        if self.key is not None:
            machine.devices["i8042"].key(self.key)
        if self.irq is not None:
            machine.raise_irq(self.irq)
        extra = {} if self.key is None else {"key": self.key}
        machine.trace.emit("inject", 0, irq=self.irq if self.irq is not None else -1,
                           packet=self.packet if self.packet is not None else -1, **extra)

    def install(self, machine) -> None:
        if self.at is not None:
            machine.schedule(self.at, self.fire)
        elif self.every is not None:
            self._periodic(machine, self.start if self.start is not None else self.every,
                           self.count)
        elif self.pc is not None:
            self._at_pc(machine)
        else:
            raise InjectError("an injection needs at=, every= or pc=")

    def _periodic(self, machine, t: int, left: Optional[int]) -> None:
        if left is not None and left <= 0:
            return

        def tick(m, _t=t, _left=left):
            self.fire(m)
            self._periodic(m, _t + self.every, None if _left is None else _left - 1)
        machine.schedule(t, tick)

    def _at_pc(self, machine) -> None:
        addr = resolve(machine, self.pc)
        hits = [0]

        def on_exec(m, cpu):
            hits[0] += 1
            if hits[0] == self.hit:
                self.fire(m)
                m.stop_engine(cpu)      # the edge is taken before this instruction
        machine.add_exec_hook(addr, on_exec)


def resolve(machine, text: str) -> int:
    name, plus, off = text.partition("+")
    try:
        base = int(name, 0)
    except ValueError:
        if machine.symbols is None or name not in machine.symbols:
            raise InjectError(f"unknown symbol {name!r} in pc={text}") from None
        base = machine.symbols.addr(name)
    try:
        return base + (int(off, 0) if plus else 0)
    except ValueError:
        raise InjectError(f"bad offset in pc={text}") from None


def _int(key: str, value: str) -> int:
    try:
        return int(value, 0)
    except ValueError:
        raise InjectError(f"{key}={value}: not a number") from None


def parse(spec: str) -> Injection:
    inj = Injection()
    for part in spec.split(","):
        key, eq, value = part.strip().partition("=")
        if not eq:
            raise InjectError(f"--inject {spec}: expected key=value, got {part!r}")
        if key == "irq":
            inj.irq = _int(key, value)
            if not 0 <= inj.irq < 16:
                raise InjectError(f"--inject {spec}: irq must be 0-15")
        elif key == "packet":
            inj.packet = _int(key, value)
        elif key == "key":
            inj.key = _int(key, value)
            if not 0 <= inj.key <= 0xFF:
                raise InjectError(f"--inject {spec}: key must be a byte, 0-255")
        elif key == "at":
            inj.at = _int(key, value)
        elif key == "every":
            inj.every = _int(key, value)
            if inj.every <= 0:
                raise InjectError(f"--inject {spec}: every must be positive")
        elif key == "from":
            inj.start = _int(key, value)
        elif key == "count":
            inj.count = _int(key, value)
        elif key == "hit":
            inj.hit = _int(key, value)
        elif key == "pc":
            inj.pc = value
        else:
            raise InjectError(f"--inject {spec}: unknown key {key!r}")
    if inj.irq is None and inj.packet is None and inj.key is None:
        raise InjectError(f"--inject {spec}: needs irq=N, packet=VALUE or key=BYTE")
    if sum(x is not None for x in (inj.at, inj.every, inj.pc)) != 1:
        raise InjectError(f"--inject {spec}: give exactly one of at=, every=, pc=")
    return inj
