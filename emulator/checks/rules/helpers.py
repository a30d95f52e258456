"""What several rules share (rules/): backtraces, where a CPU is, who blocks.

Contract
--------
``bt(ctx, cpu)`` the CPU's backtrace or []; ``where(st, cpu)`` words for the
context a CPU runs in; ``BLOCKING`` the kinds that put a thread to sleep;
``sleeper(ev, st)`` who blocks or sleeps; ``hard_line(frames)`` the line of
the innermost interrupt frame that has one; ``thread_line(ctx, who)`` the
line an interrupt thread serves, when the machine window knows;
``serving(st, who, ctx)`` whether an interrupt thread is at work for an
interrupt now, and for which line.
"""

from __future__ import annotations

from typing import Optional

from emulator.checks.core import State


def bt(ctx, cpu: int) -> list:
    return ctx.backtrace(cpu) or []


def where(st: State, cpu: int) -> str:
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
    if ev["ev"] == "lwp.sleep" and ev.get("lwp"):
        return ev["lwp"]
    return st.actor(ev)


def hard_line(frames: list) -> Optional[int]:
    """The line of the innermost interrupt frame that has one."""
    return next((f.line for f in reversed(frames) if f.line is not None), None)


def thread_line(ctx, who) -> Optional[int]:
    """The line thread ``who`` serves, when the machine window knows it."""
    ask = getattr(ctx, "thread_line", None)
    return ask(who) if ask is not None else None


def serving(st: State, who, ctx) -> tuple:
    """(True, line) when ``who`` is an interrupt thread at work for an
    interrupt: borrowing the LWP it pinned, or a line's interrupt or
    handler thread while the kernel holds that line masked for it (from
    the acknowledge to ``ithread.done``); (False, None) otherwise."""
    if not str(who).startswith("ithread "):
        return False, None
    line = thread_line(ctx, who)
    if st.borrowing(who):
        return True, line
    if line is not None and line in st.held_lines:
        return True, line
    return False, None
