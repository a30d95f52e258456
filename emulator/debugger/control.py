"""The debugger's engine: stops, execution control, going back, where we are.

Contract
--------
``Debugger(machine, session=None, max_run=None, history_every=200_000,
trace_path=None)`` holds the breakpoints, watchpoints and catchpoints, and
runs the machine until one of them (or Ctrl-C, or the guest's exit) stops it.
It knows nothing of text input: the REPL (repl.py) and the GDB stub
(gdbstub.py) both drive it.

Execution (each returns a ``Stop`` (stops.py): why we stopped, one line):
  ``stepi(n)``, ``stepi_cpu(cpu)`` (one instruction of that CPU, the others
  running their turns first), ``nexti(n)`` (over ``call``/``int`` and over
  interrupts taken meanwhile), ``finish()``, ``cont()``, ``until(addr)``,
  ``run_for(n)``, and going back (goback.py): ``reverse_stepi(n)``,
  ``reverse_cont()``, ``goto_time(t)``.
A stop condition never fires at the address and time a command starts from
(so ``continue`` from a breakpoint moves on).  Every forward run is bounded:
by ``n`` or by ``max_run`` instructions (``None``: unbounded, Ctrl-C stops);
``poll`` (None, or a function asked between chunks: true = stop now, the
stub's "gdb sent Ctrl-C or hung up") applies to every forward run.  A
guest crash, triple fault or deadlock is a ``crashed`` stop: the state
stays to be looked at.

Exact stops: the machine's ``stop()`` takes effect at the next block
boundary, so a breakpoint (or the return address nexti/finish wait for)
records the exact time it was hit and, when the machine ran past it, the
debugger goes back to that instruction through the history (restore the last
snapshot, replay exactly); a watchpoint stops just after the accessing
instruction the same way.  Catchpoints stop where the machine stopped (the
first block of the handler).

Ctrl-C: ``interrupt()`` (the REPL's SIGINT handler, the stub's 0x03 byte)
calls ``machine.stop()`` — KeyboardInterrupt cannot arrive inside Unicorn,
and no Python runs there in native mode, so a thread waiting on the signal
wakeup fd makes the call.

The observer and the checkers go back too: with a session, a ``Rewind``
(emulator/debugger/rewind.py) rides in every snapshot, so a restore puts
their model back, and a replay feeds them events again without reporting a
violation twice or writing a trace line twice (``trace_path``: the trace
is the history of the furthest run).  The guest's console follows the same
rule (``ConsoleOnce``, on reverse.py's ``HighWater``): a forward run over
time already run, after going back, does not print the guest's output
again.  The log of interrupts taken (``IntrLog``: what bt and nexti read)
rides in the snapshots too, so it holds this history up to now, each
interrupt once.  ``fork()`` is called before the user changes the machine by
hand, ``changed()`` after; ``close()`` ends the session's trace.

Where (locate.py, mixed in): ``where()`` is the stop display, ``pc`` the
selected CPU's linear address, ``insn_at`` decodes as that CPU decodes,
``eval``/``location`` evaluate expressions (expr.py) against the selected
CPU ``cpu``.
"""

from __future__ import annotations

import os
import signal
import threading
from typing import Optional

import capstone

from emulator.debugger import expr as E
from emulator.debugger.along import Along, ConsoleOnce, IntrLog
from emulator.debugger.goback import GoingBack
from emulator.debugger.locate import Env, Locating
from emulator.debugger.reverse import History, SnapshotError
from emulator.debugger.rewind import Rewind
from emulator.debugger.stops import DebugError, Point, Stop  # noqa: F401 (the debugger's API)
from emulator.debugger.target import Target, TargetError
from emulator.debugger.views import unwind

CHUNK = 1_000_000     # a continue runs in chunks, so Ctrl-C and checks are seen


class Debugger(GoingBack, Locating):
    def __init__(self, machine, session=None, max_run: Optional[int] = None,
                 history_every: int = 200_000, trace_path=None) -> None:
        self.m = machine
        self.session = session
        self.rewind = None
        if session is not None:
            self.rewind = Rewind(session, trace_path)
        self.console = ConsoleOnce(getattr(machine, "console", None))
        self.console.clock = getattr(machine, "clock", None)
        self._console_gate()
        self.intr_log = IntrLog(maxlen=512)
        self.intr_seq = 0
        self.t = Target(machine, companion=Along([self.console, self.intr_log, self.rewind]))
        self.syms = self.t.symbols
        self.cpu = 0
        self.max_run = max_run
        self.poll = None                 # () -> bool, asked between chunks: stop now?
        self.points: dict = {}
        self.next_num = 1
        self._hooked: dict = {}          # addr -> hook handle
        self._internal: dict = {}        # addr -> [predicate]
        self.mode = "idle"               # idle | run | replay | record
        self.reason: Optional[Stop] = None
        self.hit = None                  # (time, addr) of the exec-hook stop
        self.start = None                # (time, pc) the current command started at
        self.recorded: list = []
        self.history = History(self.t, every=history_every)
        self.env = Env(self)
        self.cs = capstone.Cs(capstone.CS_ARCH_X86, capstone.CS_MODE_32)
        self.cs16 = capstone.Cs(capstone.CS_ARCH_X86, capstone.CS_MODE_16)
        self.t.on_interrupt(self._on_interrupt)
        self.exit_status = None
        self.exit_at: Optional[int] = None   # when the guest exited (this history)
        if session is not None:
            session.fanout.add(self._on_event)
        self._checkpoint(force=True)

    def _console_gate(self) -> None:
        """Put ConsoleOnce in front of the machine's console (again, when
        someone set ``machine.console`` since)."""
        cur = getattr(self.m, "console", None)
        if cur is None or cur is self.console:
            return
        self.console.out = cur
        self.m.console = self.console

    def _checkpoint(self, force=False, gap=0) -> bool:
        try:
            return self.history.checkpoint(force=force, gap=gap)
        except SnapshotError:
            return False    # reverse commands will say why they cannot run

    # points -----------------------------------------------------------------
    def add_point(self, kind, **kw) -> Point:
        p = Point(self.next_num, kind, **kw)
        self.next_num += 1
        if kind in ("break", "tbreak"):
            self._hook(p.addr)
        elif kind in ("watch", "rwatch"):
            add = self.t.add_write_watch if kind == "watch" else self.t.add_read_watch
            try:
                p.handle = add(p.addr, p.length, self._watch_fn(p))
            except (AttributeError, TypeError) as e:
                self.next_num -= 1
                raise DebugError(f"this machine cannot watch memory: {e}") from None
        self.points[p.num] = p
        return p

    def delete_point(self, num: int) -> None:
        p = self.points.pop(num, None)
        if p is None:
            raise DebugError(f"no breakpoint number {num}")
        if p.kind in ("watch", "rwatch") and p.handle is not None:
            self.t.remove_watch(p.handle)

    def _hook(self, addr: int) -> None:
        if addr in self._hooked:
            return
        self._hooked[addr] = self.t.add_exec_hook(addr, lambda *a, _addr=addr: self._on_exec(_addr, a))

    def _cpu_of(self, args) -> int:
        for a in args:
            if isinstance(a, int) and not isinstance(a, bool) and 0 <= a < self.t.ncpus:
                return a
            idx = getattr(a, "index", None)
            if isinstance(idx, int):
                return idx
        return self.cpu

    def _cond_ok(self, p: Point) -> bool:
        if not p.cond:
            return True
        return bool(E.evaluate(p.cond, self.env))

    def _on_exec(self, addr, args) -> None:
        if self.mode in ("idle", "replay"):
            return
        cpu = self._cpu_of(args)
        if self.mode == "record":
            saved, self.cpu = self.cpu, cpu
            try:
                for p in self.points.values():
                    if p.enabled and p.kind in ("break", "tbreak") and p.addr == addr and self._cond_ok(p):
                        self.recorded.append((self.t.now, cpu, p))
            except (E.ExprError, TargetError):
                pass    # a condition that cannot be evaluated does not record a hit
            finally:
                self.cpu = saved
            return
        if self.reason is not None or (self.t.now, addr) == self.start:
            return
        saved, self.cpu = self.cpu, cpu
        for pred in self._internal.get(addr, ()):
            if pred():
                self.hit = (self.t.now, addr)
                self._stop(Stop("step"))
                return
        for p in list(self.points.values()):
            if not (p.enabled and p.kind in ("break", "tbreak") and p.addr == addr):
                continue
            try:
                ok = self._cond_ok(p)
            except (E.ExprError, TargetError) as e:
                self._stop(Stop("break", f"Breakpoint {p.num}: condition '{p.cond}' failed: {e}", p))
                return
            if ok:
                self.hit = (self.t.now, addr)
                p.hits += 1
                name = "Temporary breakpoint" if p.kind == "tbreak" else "Breakpoint"
                self._stop(Stop("break", f"{name} {p.num}, {self.symbolize(addr)}", p))
                if p.kind == "tbreak":
                    self.points.pop(p.num, None)
                return
        self.cpu = saved

    def _watch_fn(self, p: Point):
        def fn(*args):
            if not p.enabled or self.mode in ("idle", "replay"):
                return
            if self.mode == "record":
                self.recorded.append((self.t.now + 1, self._cpu_of(args[:1]), p))
                return
            if self.reason is not None:
                return
            p.hits += 1
            self.hit = (self.t.now + 1, None)   # stop just after the accessing instruction
            what = "Hardware watchpoint" if p.kind == "watch" else "Hardware read watchpoint"
            acc = ""
            if len(args) >= 5 and isinstance(args[2], int) and isinstance(args[3], int):
                acc = (f": wrote {args[4]:#x} ({args[3]} bytes at {args[2]:#x})"
                       if isinstance(args[4], int) else f": read {args[3]} bytes at {args[2]:#x}")
            self._stop(Stop("watch", f"{what} {p.num}: {p.addr:#x}:{p.length} "
                                     f"({self.symbolize(p.addr)}){acc}", p))
        return fn

    def _on_interrupt(self, cpu, vector, kind, eip_from, error_code=None) -> None:
        c = self._cpu_of((cpu,))
        line = self.line_of_vector(vector)
        esp = self.t.reg("esp", c)
        self.intr_seq += 1
        self.intr_log.append((self.t.now, c, vector, kind, eip_from, line, esp, self.intr_seq))
        if self.mode != "record" and (self.mode != "run" or self.reason is not None):
            return
        for p in self.points.values():
            if not (p.enabled and p.kind == "catch" and p.what.startswith("irq")):
                continue
            want = p.what.split()[1:] if len(p.what.split()) > 1 else None
            if line is None or (want and int(want[0], 0) != line):
                continue
            if self.mode == "record":
                self.recorded.append((self.t.now, c, p))
                return
            p.hits += 1
            self.cpu = c
            self._stop(Stop("catch", f"Catchpoint {p.num} (irq {line}, vector {vector:#x}, "
                                     f"from {self.symbolize(eip_from)})", p))
            return

    def _on_event(self, ev: dict) -> None:
        if self.mode != "record" and (self.mode != "run" or self.reason is not None):
            return
        kind = ev.get("ev", "")
        for p in self.points.values():
            if not (p.enabled and p.kind == "catch"):
                continue
            if p.what == "switch" and kind == "lwp.switch":
                text = f"Catchpoint {p.num} (switch {ev.get('from')} -> {ev.get('to')})"
            elif p.what == "violation" and kind == "check.violation":
                text = f"Catchpoint {p.num} (violation {ev.get('rule')}: {ev.get('message')})"
            else:
                continue
            if self.mode == "record":
                self.recorded.append((ev.get("t", self.t.now), ev.get("cpu", self.cpu), p))
                return
            p.hits += 1
            self._stop(Stop("catch", text, p))
            return

    def line_of_vector(self, vector: int):
        pic = self.t.devices.get("pic") or getattr(self.m, "pic", None)
        for attr, first in (("master", 0), ("slave", 8)):
            chip = getattr(pic, attr, None)
            base = getattr(chip, "irq_base", None)
            if isinstance(base, int) and base <= vector < base + 8:
                return first + vector - base
        return None

    # running ----------------------------------------------------------------
    def _stop(self, reason: Stop) -> None:
        self.reason = reason
        self.t.stop()

    def interrupt(self) -> None:
        """Ctrl-C: stop a running command at the next instruction boundary."""
        if self.mode == "run" and self.reason is None:
            self.reason = Stop("interrupted", "Program received SIGINT (Ctrl-C).")
            self.t.stop()

    def _sigint(self, signum, frame) -> None:
        self.interrupt()

    def _wakeup_pipe(self) -> int:
        """The write end of a pipe the C signal handler writes to at once.

        A Python signal handler runs only when the main thread runs Python
        again, which it does not inside Unicorn's native run loop; a thread
        waiting on this pipe (ctypes releases the GIL during emu_start) sees
        Ctrl-C immediately and stops the machine.
        """
        if getattr(self, "_wake_w", None) is None:
            r, w = os.pipe()
            os.set_blocking(w, False)
            self._wake_w = w

            def watch():
                while True:
                    try:
                        data = os.read(r, 64)
                    except OSError:
                        return
                    if not data:
                        return
                    if signal.SIGINT in data:
                        self.interrupt()
            threading.Thread(target=watch, name="debugger-ctrl-c", daemon=True).start()
        return self._wake_w

    def _exec(self, n: Optional[int], exact: bool, poll=None) -> Stop:
        """Run forward up to n instructions (None: max_run / unbounded)."""
        limit = n if n is not None else self.max_run
        poll = poll or self.poll
        self.hit = None
        if self.exit_at is not None and self.t.now >= self.exit_at:
            # as gdb: nothing runs after the program's end (on several CPUs
            # the APs would spin on until Ctrl-C); going back still works
            self.reason = Stop("exited", f"The guest has exited (status {self.exit_status}); "
                               "go back with reverse-stepi or reverse-continue.")
            return self.reason
        self.reason = None
        self.start = (self.t.now, self.pc)
        self.mode = "run"
        old = old_fd = None
        if threading.current_thread() is threading.main_thread():
            old = signal.signal(signal.SIGINT, self._sigint)
            old_fd = signal.set_wakeup_fd(self._wakeup_pipe(), warn_on_full_buffer=False)
        done = 0
        gap = self.history.every
        self._console_gate()
        try:
            while self.reason is None and (limit is None or done < limit):
                if self._checkpoint(gap=gap) and done:
                    gap *= 2        # a long run keeps O(log n) snapshots
                chunk = min(self.history.due_in(gap), CHUNK)
                if limit is not None:
                    chunk = min(chunk, limit - done)
                before = self.t.now
                res = self.t.step(chunk) if exact else self.t.run(chunk)
                done += self.t.now - before
                self._check_result(res, self.t.now - before, chunk)
                if poll is not None and self.reason is None and poll():
                    self.reason = Stop("interrupted", "Program received SIGINT (Ctrl-C).")
        finally:
            self.mode = "idle"
            if old is not None:
                signal.set_wakeup_fd(old_fd)
                signal.signal(signal.SIGINT, old)
        if self.hit is not None and self.t.now != self.hit[0] or \
                self.hit is not None and self.hit[1] is not None and self.pc != self.hit[1]:
            self._back_to_hit()
        if self.reason is None:
            self.reason = Stop("limit" if n is None else "step",
                               f"stopped after {done} instructions (limit)" if n is None else "")
        return self.reason

    def _check_result(self, res, ran: int, asked: int) -> None:
        """Turn the machine's RunResult(status, reason, report) into a stop."""
        if self.reason is not None and getattr(res, "reason", "") in ("stopped", "budget", None):
            return
        why = str(getattr(res, "reason", "") or "") if res is not None else ""
        if why == "exit":
            self.exit_status = getattr(res, "status", None)
            self.exit_at = self.t.now
            self.reason = Stop("exited", f"The guest exited with status {self.exit_status}.")
        elif why in ("crash", "triple-fault", "deadlock", "error"):
            # a stop, not an exit: the crashed state stays to be looked at
            report = (getattr(res, "report", "") or "").strip()
            self.exit_status = getattr(res, "status", None)
            self.reason = Stop("crashed", f"The machine stopped ({why})." + (f"\n{report}" if report else ""))
        elif why == "stopped" and self.reason is None and ran == 0:
            self.reason = Stop("interrupted", "Stopped.")
        elif ran == 0 and self.reason is None and why not in ("stopped",):
            self.reason = Stop("exited", f"The machine cannot go on ({why or 'no progress'}).")

    def _back_to_hit(self) -> None:
        """The machine stops at a block boundary, after the breakpoint: go back
        to the exact instruction through the history (restore + exact replay)."""
        t, addr = self.hit
        ran_over = self.t.now - t
        try:
            self.goto_time(t)
        except DebugError as e:
            self.reason.text += (f"\n(the machine stopped {ran_over} instructions after it; "
                                 f"cannot go back: {e})")
            return
        if addr is not None and self.pc != addr:
            self.reason.text += f"\n(replay reached {self.pc:#x}, not {addr:#x})"

    def stepi(self, n: int = 1) -> Stop:
        return self._exec(n, exact=True)

    def stepi_cpu(self, cpu: int) -> Stop:
        """One instruction of CPU ``cpu`` (gdb's stepi on that thread): the
        CPUs whose turns come first run them, as the round robin has them
        (so a breakpoint they hit stops it).  A CPU that is halted or waits
        for a start-up IPI runs nothing until the machine wakes it; this
        runs until then, bounded like ``continue``."""
        ran = 0
        while True:
            wait = self.t.turn_distance(cpu)
            if wait == 0:
                stop = self.stepi(1)
                self.cpu = cpu
                return stop
            if self.max_run is not None and ran >= self.max_run:
                self.cpu = cpu
                return Stop("limit", f"cpu {cpu} did not run in {ran} instructions (limit)")
            # not runnable: the rest of the running CPU's turn (it cannot run
            # before that ends), or one instruction when every CPU sleeps
            n = wait if wait is not None else self.t.turn_left(cpu)
            stop = self.stepi(n)
            ran += n
            if stop.kind != "step" or self.poll is not None and self.poll():
                return stop
            if wait is None and n == 1 and self.t.ran_in_turn(cpu):
                self.cpu = cpu                  # it woke and took that instruction
                return stop

    def run_for(self, n: int) -> Stop:
        return self._exec(n, exact=True)

    def cont(self, poll=None) -> Stop:
        return self._exec(None, exact=False, poll=poll)

    def _run_until(self, addr: int, pred, poll=None) -> Stop:
        self._internal.setdefault(addr, []).append(pred)
        self._hook(addr)
        try:
            return self._exec(None, exact=False, poll=poll)
        finally:
            lst = self._internal.get(addr, [])
            if pred in lst:
                lst.remove(pred)
            if not lst:
                self._internal.pop(addr, None)

    def until(self, addr: int) -> Stop:
        return self._run_until(addr, lambda: True)

    def nexti(self, n: int = 1) -> Stop:
        stop = Stop("step")
        for _ in range(n):
            stop = self._next_one()
            if stop.kind != "step":
                return stop
        return stop

    def _next_one(self) -> Stop:
        for _attempt in range(64):
            pc0, esp0 = self.pc, self.reg("esp")
            insn = self.insn_at(pc0)
            seen = self.intr_seq
            stop = self._exec(1, exact=True)
            if stop.kind != "step":
                return stop
            new = [e for e in self.intr_log if e[-1] > seen]
            if insn is not None and insn.mnemonic in ("call", "int", "into", "int3", "lcall"):
                ret = pc0 + insn.size
                if self.pc != ret:
                    return self._run_until(ret, lambda: self.reg("esp") >= esp0)
                return stop
            taken = [e for e in new if e[4] == pc0 or e[4] == self.pc]
            if taken and self.pc != taken[0][4]:
                back = taken[0][4]
                stop = self._run_until(back, lambda: self.reg("esp") >= esp0)
                if stop.kind != "step" or self.pc != pc0:
                    return stop
                continue      # the interrupt came before the instruction: do it now
            return stop
        return Stop("step")

    def frames(self, limit: int = 64) -> list:
        return unwind(self, limit)

    def finish(self) -> Stop:
        fr = self.frames(2)
        if len(fr) < 2 or fr[1].get("pc") is None:
            raise DebugError("\"finish\" not meaningful in the outermost frame (no return address found)")
        ret = fr[1]["pc"]
        esp0 = self.reg("esp")
        return self._run_until(ret, lambda: self.reg("esp") > esp0)

    def fork(self) -> None:
        """The user is about to change the machine by hand: the future the
        observer saw is no longer this machine's (its trace is cut here)."""
        self.console.fork()
        if self.rewind is not None:
            self.rewind.fork()

    def changed(self) -> None:
        """The user changed the machine by hand: the history forks here."""
        self.fork()
        if self.exit_at is not None and self.t.now < self.exit_at:
            self.exit_at = None             # the new history has not ended
        try:
            self.history.changed()
        except SnapshotError:
            pass

    def close(self) -> None:
        """End of the session: the trace is flushed and closed."""
        if self.rewind is not None:
            self.rewind.close()
