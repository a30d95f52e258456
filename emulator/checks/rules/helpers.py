"""What several rules share: backtraces, where a CPU is, who blocks."""

from __future__ import annotations

from typing import Optional

from emulator.checks.core import State


def backtrace(ctx, cpu: int) -> list:
    """The symbolised backtrace of ``cpu`` (empty when the context has none)."""
    return ctx.backtrace(cpu) or []


def where(st: State, cpu: int) -> str:
    """Thread context, or which hard interrupt ``cpu`` is in."""
    frames = st.frames_of(cpu)
    if not frames:
        return "thread context"
    fr = frames[-1]
    if fr.line is not None:
        return f"hard interrupt context (irq {fr.line}, vector {fr.vector:#x})"
    return f"hard interrupt context (vector {fr.vector:#x})" if fr.vector is not None \
        else "hard interrupt context"


BLOCKING = ("lock.block", "lwp.sleep")


def sleeper(ev: dict, st: State) -> Optional[str]:
    """Who blocks or sleeps in ``ev``."""
    if ev["ev"] == "lwp.sleep" and ev.get("lwp"):
        return ev["lwp"]
    return st.actor(ev)
