"""The kernel labels' field readers, compiled once from the label table.

Contract
--------
``compile_reader(model, fields) -> fn(cpu) -> dict`` returns what
``model.read_fields(cpu, fields)`` (emulator/observe/kernel.py) returns,
the same values in the same order, with the table's ``(how, *arg)``
entries turned into one small function per field when the label is
hooked instead of interpreted at every event.  A kind of field this file
does not know is read by ``read_fields`` itself, so a kind added to the
table cannot be dropped silently.  ``attach(reference=True)`` uses
``read_fields`` throughout; tests/golden/test_fast_path.py compares the
two on every golden configuration.
"""

from __future__ import annotations

_ABSENT = object()      # a field the label does not carry this time


def compile_reader(k, fields: dict):
    """``k.read_fields(cpu, fields)`` as one function (module docstring)."""
    getters = [(name, _getter(k, how, arg) or _interpreted(k, name, (how, *arg)))
               for name, (how, *arg) in fields.items()]

    def read(cpu: int) -> dict:
        out = {}
        for name, get in getters:
            v = get(cpu)
            if v is not _ABSENT:
                out[name] = v
        return out
    return read


def _interpreted(k, name: str, spec: tuple):
    """fn(cpu) -> one field as ``read_fields`` reads it (a kind of field
    ``_getter`` does not compile)."""
    one = {name: spec}
    return lambda cpu: k.read_fields(cpu, one).get(name, _ABSENT)


def _getter(k, how: str, arg: list):
    """fn(cpu) -> the field's value (``_ABSENT``: no field), as
    ``read_fields`` computes it for ``(how, *arg)``; None for a kind it
    does not know."""
    if how == "const":
        value = arg[0]
        return lambda cpu: value
    reg_of = k.view.reg
    reg = arg[0] if arg else None
    val = (lambda cpu: reg_of(cpu, reg)) if reg else (lambda cpu: None)
    c, u32 = k.c, k._u32
    off = c[arg[1]] if how in ("field", "linefield", "lockat") else None
    simple = {
        "int": lambda cpu: val(cpu),
        "bool": lambda cpu: bool(val(cpu)),
        "shr": lambda cpu: val(cpu) >> arg[1],
        "low8": lambda cpu: val(cpu) & 0xFF,
        "lwp": lambda cpu: k.lwp_name(val(cpu)),
        "lock": lambda cpu: k.lock_name(val(cpu)),
        "owner": lambda cpu: k.lwp_name(k.mutex_owner(val(cpu)) or 0),
        "ownerrun": lambda cpu: k.running(k.mutex_owner(val(cpu))),
        "running": lambda cpu: k.running(val(cpu)),
        "cur": lambda cpu: k.lwp_name(k.cpu_lwp(cpu) or 0),
        "true": lambda cpu: True,
        "kind": lambda cpu: k.lock_kind(val(cpu)),
        "softint": lambda cpu: k.softint_name(val(cpu)),
    }
    if how in simple:
        return simple[how]
    if how == "sym":
        def sym(cpu):
            v = val(cpu)
            return k.symbols.symbolize(v) or f"{v:#x}"
        return sym
    if how == "field":
        def field(cpu):
            v = val(cpu)
            return u32(v + off) if off is not None and v else None
        return field
    if how == "linefield":
        no_line = c["no_line"]

        def linefield(cpu):
            v = val(cpu)
            v = u32(v + off) if off is not None and v else None
            return None if v is None or v == no_line else v
        return linefield
    if how == "lockat":
        def lockat(cpu):
            v = val(cpu)
            ptr = u32(v + off) if off is not None and v else None
            return k.lock_name(ptr) if ptr else None
        return lockat
    if how == "heldbit":
        held = k.d["intr_held"]

        def heldbit(cpu):
            v = val(cpu)
            mask = u32(held) if held is not None else None
            return None if mask is None else (mask >> v) & 1
        return heldbit
    if how == "cpuidx":
        return lambda cpu: cpu
    if how == "ipl":
        def ipl(cpu):
            val(cpu)
            b = k.cpu_base(cpu)
            if b is not None and k.ipl_off is not None:
                return u32(b + k.ipl_off)
            return _ABSENT
        return ipl
    return None
