"""The kernel labels' field readers, compiled once from the label table.

Contract
--------
``compile_reader(model, fields) -> fn(cpu) -> dict`` returns what
``model.read_fields(cpu, fields)`` (emulator/observe/kernel.py) returns,
the same values (in the same order, unless given the event's kind: then
in the trace's), with the table's ``(how, *arg)``
entries turned into one small function per field when the label is
hooked instead of interpreted at every event.  The registers are taken
once per event as one list (the view's ``regs``: the hook's held copy)
and each field's function is handed the one it reads.  A kind of field
this file does not know is read by ``read_fields`` itself, so a kind added
to the table cannot be dropped silently.  ``attach(reference=True)`` uses
``read_fields`` throughout; tests/golden/test_fast_path.py compares the
two on every golden configuration.
"""

from __future__ import annotations

from typing import Optional

from emulator.observe.view import REG_AT
from emulator.trace import event_order

_ABSENT = object()      # a field the label does not carry this time


def compile_reader(k, fields: dict, kind: Optional[str] = None):
    """``k.read_fields(cpu, fields)`` as one function (module docstring);
    given the event's ``kind``, its fields come in the trace's order
    (emulator/trace.py's ``event_order``: ``TraceSink.emit_fields`` takes
    them so) and hold no float (each is a register, a word, a name, a
    flag or the table's constant, which must not be one)."""
    if kind is not None:
        fields = {name: fields[name] for name in event_order(kind, fields)}
        for name, (how, *arg) in fields.items():
            if how == "const" and isinstance(arg[0], float):
                raise TypeError(f"label field {kind}.{name} is a float constant")
    getters = []
    for name, (how, *arg) in fields.items():
        at = REG_AT.get(arg[0]) if arg and how != "const" else None
        getters.append((name, at) + _shape(k, name, how, arg, at))
    regs_of = k.view.regs

    def read(cpu: int) -> dict:
        regs = regs_of(cpu)
        out = {}
        for name, at, shape, f in getters:
            if shape is _OF_REG:
                v = f(regs[at])
            elif shape is _CONST:
                v = f
            elif shape is _REG:
                v = regs[at]
            else:
                v = f(cpu, regs[at] if at is not None else None)
            if v is not _ABSENT:
                out[name] = v
        return out
    return read


# how ``read`` gets a field: the table's constant, the register itself, a
# method of the model applied to the register, or a getter of (cpu, register)
_CONST, _REG, _OF_REG, _GETTER = "const", "reg", "of-reg", "getter"
# kinds of field that are one method of the model applied to the register
_METHODS = {"lwp": "lwp_name", "lock": "lock_name", "kind": "lock_kind",
            "softint": "softint_name", "running": "running"}


def _shape(k, name: str, how: str, arg: list, at) -> tuple:
    """(shape, constant or function) of one field (``read``'s four ways)."""
    if how == "const":
        return _CONST, arg[0]
    if how == "true":
        return _CONST, True
    if at is not None and how == "int":
        return _REG, None
    if at is not None and how in _METHODS:
        return _OF_REG, getattr(k, _METHODS[how])
    get = _getter(k, how, arg) if at is not None or not arg else None
    if get is None:
        whole = _interpreted(k, name, (how, *arg))
        get = (lambda cpu, v, whole=whole: whole(cpu))
    return _GETTER, get


def _interpreted(k, name: str, spec: tuple):
    """fn(cpu) -> one field as ``read_fields`` reads it (a kind of field
    ``_getter`` does not compile)."""
    one = {name: spec}
    return lambda cpu: k.read_fields(cpu, one).get(name, _ABSENT)


def _getter(k, how: str, arg: list):
    """fn(cpu, v) -> the field's value (``_ABSENT``: no field), as
    ``read_fields`` computes it for ``(how, *arg)`` where ``v`` is the
    value of the register ``arg[0]`` names (None for a field that names
    none); None for a kind it does not know."""
    if how == "const":
        value = arg[0]
        return lambda cpu, v: value
    c, u32 = k.c, k._u32
    off = c[arg[1]] if how in ("field", "linefield", "lockat") else None
    simple = {
        "int": lambda cpu, v: v,
        "bool": lambda cpu, v: bool(v),
        "shr": lambda cpu, v: v >> arg[1],
        "low8": lambda cpu, v: v & 0xFF,
        "lwp": lambda cpu, v: k.lwp_name(v),
        "lock": lambda cpu, v: k.lock_name(v),
        "owner": lambda cpu, v: k.lwp_name(k.mutex_owner(v) or 0),
        "ownerrun": lambda cpu, v: k.running(k.mutex_owner(v)),
        "running": lambda cpu, v: k.running(v),
        "cur": lambda cpu, v: k.lwp_name(k.cpu_lwp(cpu) or 0),
        "true": lambda cpu, v: True,
        "kind": lambda cpu, v: k.lock_kind(v),
        "softint": lambda cpu, v: k.softint_name(v),
    }
    if how in simple:
        return simple[how]
    if how == "sym":
        def sym(cpu, v):
            return k.symbols.symbolize(v) or f"{v:#x}"
        return sym
    if how == "field":
        def field(cpu, v):
            return u32(v + off) if off is not None and v else None
        return field
    if how == "linefield":
        no_line = c["no_line"]

        def linefield(cpu, v):
            v = u32(v + off) if off is not None and v else None
            return None if v is None or v == no_line else v
        return linefield
    if how == "lockat":
        def lockat(cpu, v):
            ptr = u32(v + off) if off is not None and v else None
            return k.lock_name(ptr) if ptr else None
        return lockat
    if how == "heldbit":
        held = k.d["intr_held"]

        def heldbit(cpu, v):
            mask = u32(held) if held is not None else None
            return None if mask is None else (mask >> v) & 1
        return heldbit
    if how == "cpuidx":
        return lambda cpu, v: cpu
    if how == "ipl":
        def ipl(cpu, v):
            b = k.cpu_base(cpu)
            if b is not None and k.ipl_off is not None:
                return u32(b + k.ipl_off)
            return _ABSENT
        return ipl
    return None
