"""Snapshots of a PC device's state, for the machine's save/restore.

``save(dev)`` returns the device's registers, latches, queues and timers as
a dict of plain copies, leaving out the wiring (the clock, the trace sink,
the interrupt wires' sinks, output and exit callbacks); the level of each
interrupt wire is kept, so that a restored device and its wires agree.
``load(dev, state)`` puts them back without calling any sink: the machine
restores the interrupt controllers from their own snapshots.
"""

from __future__ import annotations

import copy

from emulator.devices.base import IrqLine

WIRING = frozenset({"clock", "trace", "output", "output_changed", "on_exit", "on_reset"})


def save(dev) -> dict:
    """Registers and latches of ``dev`` (deep copies), wire levels apart."""
    state, wires = {}, {}
    for name, value in vars(dev).items():
        if name in WIRING or callable(value) and not isinstance(value, IrqLine):
            continue
        if isinstance(value, IrqLine):
            wires[name] = value.level
        else:
            state[name] = copy.deepcopy(value)
    state["__wires__"] = wires
    return state


def load(dev, state: dict) -> None:
    """Restore what ``save`` returned; wire sinks are not called."""
    for name, value in state.items():
        if name == "__wires__":
            for wire, level in value.items():
                getattr(dev, wire).level = level
        else:
            setattr(dev, name, copy.deepcopy(value))
