"""The comparison's tables and sentences, as text, Markdown and HTML.

Contract
--------
``groups(entries)`` -> [(title, key, [entry per model])] in matrix order:
one table per (scenario, cpus, variant, drivers), one column per model.
``table(entries)`` -> (header, rows): the rows of one table, each a label
and one cell per model, every number as metrics.json has it.
``verdict(entries)`` -> the sentence under a table: which model finished
the primary line's work soonest (p99 of raise -> work done) and what it
cost (overhead per interrupt, switches).  ``primary_line(entries)``: the
device line with the most interrupts, the clock's line 0 only when no
other line interrupted.
``render_text(entries)`` is what the command prints; ``render_markdown``
and ``render_html(entries, plots, images)`` are report.md and report.html
(self-contained: the PNGs embedded as data: URLs).  Deterministic: the
same entries give the same bytes.
"""

from __future__ import annotations

import base64
import html

NOTE = ("Times are instructions, i.e. ns of virtual time (1 instruction = 1 ns). "
        "\"work done\" marked * is measured without the kernel's work.done event "
        "(which it does not emit for that line): the handler's end, or the end of "
        "the soft-interrupt run that took the work over (emulator/metrics.py).")


def group_key(e: dict) -> tuple:
    return (e["scenario"], e["cpus"], e["variant"], tuple(e["drivers"]))


def group_title(e: dict) -> str:
    t = f"{e['scenario']}, {e['cpus']} CPU{'s' if e['cpus'] > 1 else ''}"
    if e["variant"] != "default":
        t += f", {e['variant']}"
    if e["drivers"]:
        t += ", drivers " + " ".join(e["drivers"])
    return t


def groups(entries: list) -> list:
    out: dict = {}
    for e in entries:
        out.setdefault(group_key(e), []).append(e)
    return [(group_title(es[0]), k, es) for k, es in out.items()]


def _lines(entries: list) -> list:
    lines = sorted({int(k) for e in entries for k, n in e["irqs"].items() if n},
                   key=lambda ln: (ln == 0, ln))
    others = [ln for ln in lines if ln != 0]
    return others or lines


def primary_line(entries: list):
    counts: dict = {}
    for e in entries:
        for k, n in e["irqs"].items():
            counts[int(k)] = counts.get(int(k), 0) + n
    busy = sorted((-n, ln) for ln, n in counts.items() if n and ln != 0)
    if busy:
        return busy[0][1]
    return 0 if counts.get(0) else None


def _pair(d: dict, a: str, b: str) -> str:
    if not d or not d.get("n"):
        return "-"
    return f"{d[a]} / {d[b]}"


def table(entries: list) -> tuple:
    header = [""] + [e["model"] for e in entries]
    rows = [["result"] + [e["result"] + (f" ({e['violations']} violations)"
                                         if e["violations"] else "") for e in entries]]

    def row(label, fn):
        rows.append([label] + [fn(e) for e in entries])

    for ln in _lines(entries):
        k = str(ln)
        row(f"line {ln} interrupts", lambda e: str(e["irqs"].get(k, 0)))
        row(f"line {ln} raise -> handler start, median / p99",
            lambda e: _pair(e["latency_start"].get(k), "median", "p99"))
        row(f"line {ln} raise -> work done, median / p99",
            lambda e: _pair(e["latency_done"].get(k), "median", "p99")
            + ("*" if e["work_done_source"].get(k) == "proxy"
               and e["latency_done"].get(k, {}).get("n") else ""))
        row(f"line {ln} masked while raised, total / longest",
            lambda e: _pair(e["masked"].get(k), "total", "max"))
        row(f"line {ln} overhead per interrupt, median",
            lambda e: str(e["overhead_by_line"].get(k, {}).get("median") or "-"))
    if any(e["packets_in"] for e in entries):
        row("packets in / done / lost",
            lambda e: f"{e['packets_in']} / {e['packets_done']} / {e['packets_lost']}")
    row("overhead per interrupt, median / total", lambda e: _pair(e["overhead"], "median", "total"))
    row("lwp switches per interrupt", lambda e: str(e["switches_per_irq"]))
    row("stack switches per interrupt", lambda e: str(e["stack_switches_per_irq"]))
    row("pins / ithread blocks", lambda e: f"{e['pins']} / {e['ithread_blocks']}")
    row("big-lock hold / wait", lambda e: f"{e['biglock_hold']['total']} / "
                                          f"{e['biglock_wait']['total']}")
    row("mutex wait, total", lambda e: str(sum(d["total"] for d in e["mutex_wait"].values())))
    kinds = sorted({k for e in entries for k in e["stack_depth"]})
    if kinds:
        row("deepest stack use, bytes (" + " / ".join(kinds) + ")",
            lambda e: " / ".join(str(e["stack_depth"].get(k, "-")) for k in kinds))
    row("instructions (virtual ms)", lambda e: f"{e['instructions']} ({e['virtual_ms']})")
    return header, rows


def verdict(entries: list) -> str:
    line = primary_line(entries)
    if line is None:
        return "No device interrupt was delivered in this configuration."
    k = str(line)
    failed = [f"{e['model']} ({e['result']})" for e in entries if e["result"] != "PASS"]
    ok = [e for e in entries if e["result"] == "PASS" and e["latency_done"].get(k, {}).get("n")]
    tail = f" Did not pass: {', '.join(failed)}." if failed else ""
    if not ok:
        return f"No model that passed finished work on line {line}.{tail}"

    def p99(e):
        return e["latency_done"][k]["p99"]
    best = min(ok, key=lambda e: (p99(e), e["latency_done"][k]["median"]))
    rest = [e for e in ok if e is not best]
    against = ", ".join(f"{e['model']} {p99(e)}" for e in rest)
    s = (f"Line {line}'s work finishes soonest under {best['model']} (p99 raise -> work "
         f"done {p99(best)} instructions" + (f"; {against}" if against else "") + ").")
    over = ", ".join(f"{e['model']} {e['overhead']['median']}" for e in rest)
    s += (f" It costs {best['overhead']['median']} instructions of overhead per interrupt "
          f"(median" + (f"; {over}" if over else "") + f"), {best['switches_per_irq']} lwp "
          f"and {best['stack_switches_per_irq']} stack switches per interrupt.")
    return s + tail


# ------------------------------------------------------------------ renderers
def _text_table(header: list, rows: list) -> list:
    widths = [max(len(r[i]) for r in [header] + rows) for i in range(len(header))]
    out = []
    for r in [header] + rows:
        cells = [r[0].ljust(widths[0])] + [c.rjust(w) for c, w in zip(r[1:], widths[1:])]
        out.append("  ".join(cells).rstrip())
    return out


def render_text(entries: list) -> str:
    out = []
    for title, _, es in groups(entries):
        out.append(f"== {title}")
        out += _text_table(*table(es))
        out.append(verdict(es))
        out.append("")
    out.append(NOTE)
    return "\n".join(out) + "\n"


def _md_table(header: list, rows: list) -> list:
    esc = [[c.replace("|", "\\|") for c in r] for r in [header] + rows]
    out = ["| " + " | ".join(esc[0]) + " |",
           "|" + "---|" + "---:|" * (len(header) - 1)]
    out += ["| " + " | ".join(r) + " |" for r in esc[1:]]
    return out


def render_markdown(entries: list, plots: list) -> str:
    out = ["# irqlab: the interrupt models compared", "", NOTE, ""]
    for title, _, es in groups(entries):
        out += [f"## {title}", ""] + _md_table(*table(es)) + ["", verdict(es), ""]
    if plots:
        out += ["## Plots", ""]
        for name, caption in plots:
            out += [f"![{caption}]({name})", "", caption, ""]
    return "\n".join(out)


CSS = ("body{font-family:sans-serif;max-width:70em;margin:2em auto;color:#222}"
       "table{border-collapse:collapse;margin:.5em 0}"
       "td,th{border:1px solid #bbb;padding:.2em .6em}td{text-align:right}"
       "td:first-child{text-align:left}img{max-width:100%}")


def render_html(entries: list, plots: list, images: dict) -> str:
    e = html.escape
    out = ["<!DOCTYPE html>", "<html><head><meta charset=\"utf-8\">",
           "<title>irqlab: the interrupt models compared</title>",
           f"<style>{CSS}</style></head><body>",
           "<h1>irqlab: the interrupt models compared</h1>", f"<p>{e(NOTE)}</p>"]
    for title, _, es in groups(entries):
        header, rows = table(es)
        out.append(f"<h2>{e(title)}</h2><table>")
        out.append("<tr>" + "".join(f"<th>{e(c)}</th>" for c in header) + "</tr>")
        for r in rows:
            out.append("<tr>" + "".join(f"<td>{e(c)}</td>" for c in r) + "</tr>")
        out.append(f"</table><p>{e(verdict(es))}</p>")
    for name, caption in plots:
        data = base64.b64encode(images[name]).decode("ascii")
        out.append(f"<figure><img alt=\"{e(caption)}\" src=\"data:image/png;base64,{data}\">"
                   f"<figcaption>{e(caption)}</figcaption></figure>")
    out.append("</body></html>")
    return "\n".join(out) + "\n"
