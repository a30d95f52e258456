"""The REPL: one command table drives parsing, help and completion.

Contract
--------
``Repl(debugger, stdin=None, stdout=None)``; ``loop()`` reads commands until
``quit`` or end of input and returns the exit status.  With a terminal on
stdin it uses terminal.py (prompt_toolkit: history kept across sessions,
completion of commands, info topics and symbols on Tab); otherwise it reads
plain lines (a pipe, a script, a test's StringIO) and echoes nothing but
the output.  ``onecmd(line)`` runs one command.  Ctrl-C while a command
runs stops the guest (control.py) and the prompt comes back; at the prompt
it clears the line.

Names are taken as gdb takes them: a command's name, an alias, or a unique
prefix of a name (``inf`` is info, ``disas`` disassemble; ``in`` is
ambiguous: info, inject); likewise ``info`` topics (``inf thr``).
``resolve(word)`` says which command a word names.

Every command is a small method ``do_<name>(arg)``; ``COMMANDS`` lists
(name, aliases, help) — the only table.  Any mistake prints one line
(``error: ...``) and the prompt comes back: ``onecmd`` catches everything a
command raises.  An empty line repeats the last step command (stepi, nexti,
reverse-stepi, continue, finish, x).
"""

from __future__ import annotations

import shlex
import sys

from emulator.debugger import kernelview, terminal, views
from emulator.debugger.control import DebugError, Stop
from emulator.debugger.target import TargetError
from emulator.trace import format_event

COMMANDS = [
    # execution
    ("stepi", ["si"], "stepi [N] — execute N instructions (1)"),
    ("nexti", ["ni"], "nexti [N] — like stepi, over calls and interrupts taken meanwhile"),
    ("finish", ["fin"], "finish — run until the current function returns"),
    ("continue", ["c", "cont"], "continue — run until a stop (breakpoint, catch, Ctrl-C, exit)"),
    ("until", ["u"], "until [LOC] — run to LOC (or the next instruction, over calls)"),
    ("run-for", [], "run-for N — run N instructions (stops still apply)"),
    # stops
    ("break", ["b", "br"], "break LOC [if EXPR] — stop when LOC is about to execute"),
    ("tbreak", ["tb"], "tbreak LOC [if EXPR] — a breakpoint that deletes itself when hit"),
    ("delete", ["d"], "delete [N...] — delete breakpoints (all without N)"),
    ("disable", [], "disable [N...] — disable breakpoints"),
    ("enable", [], "enable [N...] — enable breakpoints"),
    ("watch", [], "watch ADDR[:LEN] — stop after a write to ADDR (LEN bytes, 4)"),
    ("rwatch", [], "rwatch ADDR[:LEN] — stop after a read of ADDR"),
    ("catch", [], "catch irq [N] | catch switch | catch violation — stop on the event"),
    # going back
    ("reverse-stepi", ["rsi"], "reverse-stepi [N] — go back N instructions, exactly"),
    ("reverse-continue", ["rc"], "reverse-continue — go back to the previous breakpoint hit"),
    # looking
    ("info", ["i"], "info registers|breakpoints|pic|pit|uart|rtc|testdev|DEVICE|idt|threads|locks|stacks|cpus"
                    "|lapic [CPU]|ioapic"),
    ("registers", ["regs"], "registers [NAME...] — the selected CPU's registers"),
    ("x", [], "x/FMT ADDR — examine memory (gdb's formats: N, xduotacsi, bhwg)"),
    ("print", ["p"], "print EXPR — evaluate an expression"),
    ("disassemble", ["disas"], "disassemble [LOC] [N] — N instructions with source lines"),
    ("list", ["l"], "list [LOC] — the source around LOC (the current address)"),
    ("bt", ["backtrace", "where"], "bt [N] — symbolised backtrace, interrupt frames marked"),
    ("cpu", [], "cpu [N] — show or select the CPU the other commands look at"),
    ("time", [], "time — virtual time (instructions retired)"),
    ("trace", [], "trace tail [N] — the last N trace events (observer)"),
    ("checks", [], "checks — the violations found so far"),
    # acting
    ("irq", [], "irq raise|lower|pulse N — move ISA line N"),
    ("inject", [], "inject SPEC — an injection, as on the run command line"),
    ("set", [], "set var ADDR = VALUE | set $reg = VALUE"),
    ("source", [], "source FILE — run the commands in FILE"),
    ("help", ["h", "?"], "help [CMD] — this list, or one command's help"),
    ("quit", ["q", "exit"], "quit — leave the debugger"),
]

SHOW_MOST = 4096          # lines one disassemble / bt / trace tail shows at most

REPEATABLE = {"stepi", "nexti", "reverse-stepi", "continue", "finish", "x", "until"}

INFO_TOPICS = ["registers", "breakpoints", "idt", "threads", "locks", "stacks", "cpus",
               "lapic", "ioapic", "pic", "pit", "uart", "rtc", "testdev", "i8042", "port61", "debugcon",
               "hpet", "acpi_pm", "fw_cfg", "all"]


def _lookup():
    table = {}
    for name, aliases, _h in COMMANDS:
        table[name] = name
        for a in aliases:
            table[a] = name
    return table


class Quit(Exception):
    pass


class Repl:
    prompt = "(irqlab) "

    def __init__(self, debugger, stdin=None, stdout=None) -> None:
        self.d = debugger
        self.stdin = stdin if stdin is not None else sys.stdin
        self.stdout = stdout if stdout is not None else sys.stdout
        self.names = _lookup()
        self.last = None
        self.xstate: dict = {}
        self.depth = 0

    # output -----------------------------------------------------------------
    def say(self, text="") -> None:
        if text is None:
            return
        self.stdout.write(str(text).rstrip("\n") + "\n")
        self.stdout.flush()

    # the loop ---------------------------------------------------------------
    def loop(self) -> int:
        self.say(self.d.where())
        tty = hasattr(self.stdin, "isatty") and self.stdin.isatty() and self.stdin is sys.stdin
        if tty:
            read = terminal.reader(self)
        else:
            read = None
        while True:
            try:
                if read is not None:
                    line = read()
                else:
                    self.stdout.write(self.prompt)
                    self.stdout.flush()
                    line = self.stdin.readline()
                    if not line:
                        self.say("")
                        break
            except EOFError:
                break
            except KeyboardInterrupt:
                continue
            try:
                self.onecmd(line.rstrip("\n"))
            except Quit:
                break
            except KeyboardInterrupt:
                self.say("Interrupted.")
        return 0 if self.d.exit_status is None else self.d.exit_status

    def complete(self, text: str) -> list:
        """Completions for the last word of ``text`` (commands, then symbols)."""
        parts = text.split()
        if not parts or (len(parts) == 1 and not text.endswith(" ")):
            pre = parts[0] if parts else ""
            return sorted(n for n in self.names if n.startswith(pre))
        word = "" if text.endswith(" ") else parts[-1]
        try:
            cmd = self.resolve(parts[0])
        except DebugError:
            return []
        if cmd == "info":
            return [t for t in INFO_TOPICS if t.startswith(word)]
        if cmd == "help":
            return sorted(n for n, _a, _h in COMMANDS if n.startswith(word))
        syms = self.d.syms.names() if self.d.syms is not None else []
        return sorted(s for s in syms if s.startswith(word))[:200]

    def resolve(self, word: str):
        """The command ``word`` names (a name, an alias or a unique prefix of
        a name), None if none; DebugError if it is ambiguous."""
        if word in self.names:
            return self.names[word]
        found = sorted({name for name, _a, _h in COMMANDS if name.startswith(word)}) if word else []
        if len(found) > 1:
            raise DebugError(f"Ambiguous command \"{word}\": {', '.join(found)}.")
        return found[0] if found else None

    def onecmd(self, line: str) -> None:
        line = line.strip()
        if not line:
            if self.last is None:
                return
            line = self.last
        if line.startswith("#"):
            return
        word, _, arg = line.partition(" ")
        fmt = ""
        if "/" in word and word.split("/")[0] == "x":
            word, fmt = word.split("/", 1)
        try:
            name = self.resolve(word)
        except DebugError as e:
            self.say(f"error: {e}")
            return
        if name is None:
            close = sorted(n for n in self.names if n.startswith(word[:2]))[:4]
            hint = f" (did you mean {', '.join(close)}?)" if close and word else ""
            self.say(f"error: undefined command \"{word}\"{hint}. Try \"help\".")
            return
        try:
            meth = getattr(self, "do_" + name.replace("-", "_"))
            if name == "x":
                meth(fmt, arg.strip())
            else:
                meth(arg.strip())
            if name in REPEATABLE:
                self.last = line if name != "x" else "x"
        except (Quit, BrokenPipeError):
            raise
        except KeyError as e:
            self.say(f"error: {e.args[0] if e.args else e}")
        except (DebugError, TargetError, ValueError) as e:
            self.say(f"error: {e}")
        except Exception as e:   # noqa: BLE001 - no command may crash the REPL
            self.say(f"error: {name} failed: {type(e).__name__}: {e}")

    # helpers ------------------------------------------------------------------
    def _count(self, arg, default=1, most=None) -> int:
        if not arg:
            return default
        n = self.d.eval(arg)
        if n <= 0:
            raise DebugError(f"the count must be positive, not {n}")
        if most is not None and n > most:
            raise DebugError(f"the count is at most {most}, not {n}")
        return n

    def _show_stop(self, stop: Stop) -> None:
        if stop.text:
            self.say(stop.text)
        if stop.kind != "exited":
            self.say(self.d.where())

    def _nums(self, arg) -> list:
        try:
            return [int(x) for x in arg.split()]
        except ValueError:
            raise DebugError(f"breakpoint numbers expected, not '{arg}'") from None

    # execution ----------------------------------------------------------------
    def do_stepi(self, arg):
        self._show_stop(self.d.stepi(self._count(arg)))

    def do_nexti(self, arg):
        self._show_stop(self.d.nexti(self._count(arg)))

    def do_finish(self, arg):
        self.say(f"Run till exit from {self.d.symbolize(self.d.pc)}")
        self._show_stop(self.d.finish())

    def do_continue(self, arg):
        n = self._count(arg, 0) if arg else 0
        stop = self.d.cont()
        if n > 1 and stop.kind == "break" and stop.bp is not None:
            bp = stop.bp
            for _ in range(n - 1):
                stop = self.d.cont()
                if stop.bp is not bp:
                    break
        self._show_stop(stop)

    def do_until(self, arg):
        if not arg:
            self._show_stop(self.d.nexti(1))
            return
        self._show_stop(self.d.until(self.d.location(arg)))

    def do_run_for(self, arg):
        if not arg:
            raise DebugError("run-for needs a count of instructions")
        self._show_stop(self.d.run_for(self._count(arg)))

    # stops ----------------------------------------------------------------------
    def _break(self, arg, kind):
        if not arg:
            loc, cond = f"{self.d.pc:#x}", None
        else:
            loc, _, cond = arg.partition(" if ")
            cond = cond.strip() or None
        addr = self.d.location(loc.strip())
        if cond:
            self.d.eval(cond)       # a condition that cannot be read is refused now
        p = self.d.add_point(kind, addr=addr, cond=cond)
        fl = self.d.line_of(addr)
        where = f": file {fl[0]}, line {fl[1]}" if fl else ""
        name = "Temporary breakpoint" if kind == "tbreak" else "Breakpoint"
        self.say(f"{name} {p.num} at {addr:#x} <{self.d.symbolize(addr)}>{where}."
                 + (f" Condition: {cond}" if cond else ""))

    def do_break(self, arg):
        self._break(arg, "break")

    def do_tbreak(self, arg):
        self._break(arg, "tbreak")

    def do_delete(self, arg):
        nums = self._nums(arg) if arg else list(self.d.points)
        for n in nums:
            self.d.delete_point(n)
        if not arg:
            self.say(f"Deleted {len(nums)} breakpoints.")

    def _enable(self, arg, on):
        nums = self._nums(arg) if arg else list(self.d.points)
        for n in nums:
            if n not in self.d.points:
                raise DebugError(f"no breakpoint number {n}")
            self.d.points[n].enabled = on

    def do_disable(self, arg):
        self._enable(arg, False)

    def do_enable(self, arg):
        self._enable(arg, True)

    def _watch(self, arg, kind):
        if not arg:
            raise DebugError(f"{kind} needs ADDR[:LEN]")
        loc, _, ln = arg.rpartition(":") if ":" in arg else (arg, "", "")
        length = self.d.eval(ln) if ln else 4
        if not 1 <= length <= 4096:
            raise DebugError(f"watch length {length} out of range (1..4096)")
        addr = self.d.eval(loc) & 0xFFFFFFFF
        p = self.d.add_point(kind, addr=addr, length=length)
        what = "Hardware watchpoint" if kind == "watch" else "Hardware read watchpoint"
        self.say(f"{what} {p.num}: {addr:#x}:{length} <{self.d.symbolize(addr)}>")

    def do_watch(self, arg):
        self._watch(arg, "watch")

    def do_rwatch(self, arg):
        self._watch(arg, "rwatch")

    def do_catch(self, arg):
        parts = arg.split()
        if not parts or parts[0] not in ("irq", "switch", "violation"):
            raise DebugError("catch irq [N] | catch switch | catch violation")
        if parts[0] == "irq" and len(parts) > 1:
            line = self.d.eval(parts[1])
            if not 0 <= line <= 23:
                raise DebugError(f"no IRQ line {line}")
            what = f"irq {line}"
        elif parts[0] != "irq" and len(parts) > 1:
            raise DebugError(f"catch {parts[0]} takes no argument")
        else:
            what = parts[0]
        if parts[0] in ("switch", "violation") and self.d.session is None:
            raise DebugError(f"catch {parts[0]} needs the observer (run without --no-observe)")
        p = self.d.add_point("catch", what=what)
        self.say(f"Catchpoint {p.num} ({what})")

    # going back ---------------------------------------------------------------------
    def do_reverse_stepi(self, arg):
        self._show_stop(self.d.reverse_stepi(self._count(arg)))

    def do_reverse_continue(self, arg):
        self._show_stop(self.d.reverse_cont())

    # looking ----------------------------------------------------------------------------
    def do_info(self, arg):
        topic, _, rest = arg.partition(" ")
        rest = rest.strip()
        if not topic:
            raise DebugError("info what? " + "|".join(INFO_TOPICS))
        topic = {"r": "registers", "regs": "registers", "b": "breakpoints"}.get(topic, topic)
        full = [t for t in INFO_TOPICS if t.startswith(topic)]
        if topic not in INFO_TOPICS and len(full) > 1:
            raise DebugError(f"Ambiguous info command \"{topic}\": {', '.join(sorted(full))}.")
        if full and topic not in INFO_TOPICS:
            topic = full[0]
        if topic == "registers":
            return self.do_registers(rest)
        if topic == "breakpoints":
            return self._info_breakpoints()
        if topic == "idt":
            return self.say(views.idt(self.d))
        if topic in ("threads", "locks", "stacks"):
            return self._info_observer(topic)
        if topic == "cpus":
            return self.say("\n".join(
                f"{'*' if i == self.d.cpu else ' '} cpu {i}: pc {self.d.t.pc(i):#010x} "
                f"<{self.d.symbolize(self.d.t.pc(i))}> {self.d.t.cpu_state(i)}"
                + (" 16-bit" if self.d.t.code_bits(i) == 16 else "")
                for i in range(self.d.t.ncpus)))
        if topic == "lapic":
            return self.say(views.lapic(self.d, self.d.eval(rest) if rest.strip() else self.d.cpu))
        if topic == "ioapic":
            return self.say(views.ioapic(self.d))
        if topic == "all":
            return self.say("\n".join(views.device(self.d, n) for n in sorted(self.d.t.devices)))
        return self.say(views.device(self.d, topic))

    def _info_breakpoints(self):
        if not self.d.points:
            return self.say("No breakpoints or watchpoints.")
        rows = ["Num  Type            Disp Enb Address    What"]
        for p in self.d.points.values():
            typ = {"break": "breakpoint", "tbreak": "breakpoint", "watch": "hw watchpoint",
                   "rwatch": "read watchpoint", "catch": "catchpoint"}[p.kind]
            disp = "del " if p.kind == "tbreak" else "keep"
            addr = f"{p.addr:#010x}" if p.addr is not None else " " * 10
            what = p.what or (self.d.symbolize(p.addr) + (f":{p.length}" if p.length else ""))
            rows.append(f"{p.num:<4} {typ:<15} {disp} {'y' if p.enabled else 'n'}   {addr} {what}")
            if p.cond:
                rows.append(f"\tstop only if {p.cond}")
            if p.hits:
                rows.append(f"\thit {p.hits} time{'s' if p.hits > 1 else ''}")
        self.say("\n".join(rows))

    def _info_observer(self, topic):
        s = self.d.session
        if topic in ("threads", "locks") and kernelview.available(self.d):
            return self.say(getattr(kernelview, topic)(self.d))
        if s is None:
            return self.say(f"info {topic} needs the observer (emulator/observe); "
                            "it is off for this session.")
        model = getattr(s, "kernel", None)
        fn = getattr(model, topic, None) if model is not None else None
        if callable(fn):
            res = fn()
            return self.say(res if isinstance(res, str) else "\n".join(map(str, res)))
        if topic == "stacks":
            stacks = s.stacks
            out = []
            esp = self.d.reg("esp")
            for name in stacks.names():
                lo, hi = stacks.region(name)
                mark = " <- esp" if lo <= esp < hi else ""
                out.append(f"{name:<16} {lo:#010x}-{hi:#010x}{mark}")
            return self.say("\n".join(out) or "no stacks known yet")
        self.say(f"info {topic} needs the observer's kernel model, which this image does not "
                 "have (it is not irqlab's kernel, or the model cannot read it yet).")

    def do_registers(self, arg):
        self.say(views.registers(self.d, arg.replace("$", "").split() or None))

    def do_x(self, fmt, arg):
        if arg:
            addr = self.d.eval(arg) & 0xFFFFFFFF
        elif "next" in self.xstate:
            addr = self.xstate["next"]
        else:
            raise DebugError("x needs an address")
        self.say(views.examine(self.d, fmt, addr, self.xstate))

    def do_print(self, arg):
        v = self.d.eval(arg)
        u = v & 0xFFFFFFFF
        sym = self.d.symbolize(u)
        self.say(f"{v} ({u:#x})" + (f" <{sym}>" if not sym.startswith("0x") else ""))

    def do_disassemble(self, arg):
        parts = arg.split()
        count = 10
        if len(parts) >= 2:
            count = self._count(parts[-1], most=SHOW_MOST)
            parts = parts[:-1]
        addr = self.d.location(" ".join(parts)) if parts else self.d.pc
        self.say(views.disassemble(self.d, addr, count))

    def do_list(self, arg):
        addr = self.d.location(arg) if arg else self.d.pc
        self.say(views.listing(self.d, addr))

    def do_bt(self, arg):
        self.say(views.backtrace(self.d, self._count(arg, 64, most=SHOW_MOST)))

    def do_cpu(self, arg):
        if arg:
            n = self.d.eval(arg)
            if not 0 <= n < self.d.t.ncpus:
                raise DebugError(f"no CPU {n} (this machine has {self.d.t.ncpus})")
            self.d.cpu = n
        self.say(f"cpu {self.d.cpu} of {self.d.t.ncpus}")
        self.say(self.d.where())

    def do_time(self, arg):
        now = self.d.t.now
        self.say(f"t = {now} instructions ({now / 1e6:.6f} ms of virtual time)")

    def do_trace(self, arg):
        parts = arg.split()
        if not parts or parts[0] != "tail":
            raise DebugError("trace tail [N]")
        n = self._count(parts[1], most=SHOW_MOST) if len(parts) > 1 else 10
        s = self.d.session
        if s is None:
            return self.say("trace tail needs the observer; it is off for this session.")
        evs = s.events.tail(n)
        if not evs:
            return self.say("no events yet")
        self.say("\n".join(format_event(e) for e in evs))

    def do_checks(self, arg):
        s = self.d.session
        if s is None:
            return self.say("checks need the observer; it is off for this session.")
        lines = [f"t={getattr(v, 't', '?')} cpu{getattr(v, 'cpu', '?')} "
                 f"{getattr(v, 'rule', '?')}: {getattr(v, 'message', v)}"
                 for v in s.violations] or ["no violations so far"]
        checker = getattr(s, "checker", None)
        lines.append(checker.summary_line() if checker is not None else "checks: off")
        self.say("\n".join(lines))

    # acting -----------------------------------------------------------------------------
    def do_irq(self, arg):
        parts = arg.split()
        if len(parts) != 2 or parts[0] not in ("raise", "lower", "pulse"):
            raise DebugError("irq raise|lower|pulse N")
        line = self.d.eval(parts[1])
        if not 0 <= line <= 15:
            raise DebugError(f"no ISA IRQ line {line} (0-15)")
        pic = self.d.t.devices.get("pic")
        if pic is None or not hasattr(pic, "set_irq"):
            raise DebugError("this machine has no 8259 PIC to drive")
        levels = {"raise": (1,), "lower": (0,), "pulse": (1, 0)}[parts[0]]
        self.d.fork()           # the line's events belong to the new history
        platform = getattr(self.d.t.m, "platform", None)      # the PIC and the IO APIC
        for level in levels:
            if platform is not None:
                platform.isa_irq(line, level)
            else:
                pic.set_irq(line, level)
        self.d.changed()
        self.say(f"irq {line}: {parts[0]} (PIC irr {getattr(pic.master, 'irr', 0):#04x}/"
                 f"{getattr(pic.slave, 'irr', 0):#04x})")

    def do_inject(self, arg):
        if not arg:
            raise DebugError("inject SPEC (e.g. irq5@1000)")
        self._inject(arg)

    def _inject(self, spec):
        # installing only schedules (the injection fires in a later run), so
        # changed() after it forks the history; a refused spec changes nothing
        try:
            res = self.d.t.inject(spec)
        except (ValueError, KeyError, TypeError) as e:
            raise DebugError(f"inject {spec}: {e}") from None
        self.d.changed()
        self.say(f"injected {spec}" + (f": {res}" if isinstance(res, str) else ""))

    def do_set(self, arg):
        if arg.startswith("var "):
            arg = arg[4:]
        lhs, eq, rhs = arg.partition("=")
        if not eq or not lhs.strip() or not rhs.strip():
            raise DebugError("set var ADDR = VALUE | set $reg = VALUE")
        lhs = lhs.strip()
        v = self.d.eval(rhs)
        if lhs.startswith("$"):
            name = {"pc": "eip", "sp": "esp", "fp": "ebp"}.get(lhs[1:].lower(), lhs[1:].lower())
            if lhs[1:].lower() == "pc":     # $pc is linear: EIP is its offset from CS's base
                v -= self.d.pc - self.d.reg("eip")
            try:
                self.d.t.set_reg(name, v, self.d.cpu)
            except KeyError:
                raise DebugError(f"no register '{lhs}'") from None
        else:
            target = lhs[1:] if lhs.startswith("*") else lhs
            addr = self.d.eval(target) & 0xFFFFFFFF
            self.d.t.mem_write(addr, (v & 0xFFFFFFFF).to_bytes(4, "little"))
        self.d.changed()

    def do_source(self, arg):
        if not arg:
            raise DebugError("source FILE")
        if self.depth > 8:
            raise DebugError("source nested too deeply")
        try:
            with open(shlex.split(arg)[0], encoding="utf-8") as f:
                lines = f.read().splitlines()
        except OSError as e:
            raise DebugError(f"cannot read {arg}: {e.strerror}") from None
        self.depth += 1
        try:
            for ln in lines:
                self.onecmd(ln)
        finally:
            self.depth -= 1

    def do_help(self, arg):
        if arg:
            name = self.resolve(arg.strip())
            if name is None:
                raise DebugError(f"no command '{arg}'")
            for n, aliases, h in COMMANDS:
                if n == name:
                    return self.say(h + (f"  (aliases: {', '.join(aliases)})" if aliases else ""))
        rows = []
        for n, aliases, h in COMMANDS:
            al = f" ({', '.join(aliases)})" if aliases else ""
            rows.append(f"  {n + al:<28} {h.split(' — ', 1)[-1]}")
        self.say("Commands:\n" + "\n".join(rows))

    def do_quit(self, arg):
        raise Quit()
