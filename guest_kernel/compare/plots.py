"""The comparison's plots (matplotlib, Agg, PNG).

Contract
--------
``make_plots(entries, samples) -> [(file name, caption, png bytes)]``:
- ``cdf-<group>.png`` per table group with samples: the CDF of raise ->
  work done on the group's primary line, one curve per model;
- ``overhead.png``: overhead per interrupt (median) and lwp switches per
  interrupt, per scenario and model (one CPU, default variant);
- ``masked.png``: instructions each line spent masked while raised, per
  scenario, line and model (one CPU, default variant);
- ``biglock.png``: big-lock wait (and hold) by CPU count per model, for the
  scenarios run on several CPU counts.
``samples`` maps a Job name to {line: sorted latencies}.  Deterministic:
fixed figure sizes and DPI, no dates; PNG text chunks say only
"irqlab compare".  matplotlib is imported here only, when plots are made.
"""

from __future__ import annotations

import io

from guest_kernel.compare import report
from guest_kernel.compare.matrix import Job

PNG_META = {"Software": "irqlab compare"}
COLORS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b")


def _pyplot():
    # matplotlib takes ~0.5 s to import: only `compare` pays for it
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    plt.rcParams.update({"svg.hashsalt": "irqlab", "font.size": 9})
    return plt


def _png(plt, fig) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100, metadata=PNG_META)
    plt.close(fig)
    return buf.getvalue()


def _models(entries: list) -> list:
    seen: list = []
    for e in entries:
        if e["model"] not in seen:
            seen.append(e["model"])
    return seen


def job_name(e: dict) -> str:
    return Job(e["model"], e["scenario"], e["cpus"], e["variant"], tuple(e["drivers"])).name


def _cdf(plt, title: str, es: list, samples: dict):
    line = report.primary_line(es)
    if line is None:
        return None
    fig, ax = plt.subplots(figsize=(6.4, 3.6))
    drawn = 0
    for i, e in enumerate(es):
        vals = samples.get(job_name(e), {}).get(str(line)) or []
        if not vals:
            continue
        n = len(vals)
        ax.step(vals, [(j + 1) / n for j in range(n)], where="post",
                color=COLORS[i % len(COLORS)], label=f"{e['model']} (n={n})")
        drawn += 1
    if not drawn:
        plt.close(fig)
        return None
    ax.set_xscale("log")
    ax.set_xlabel(f"line {line}: raise -> work done (instructions = virtual ns)")
    ax.set_ylabel("fraction of interrupts")
    ax.set_title(f"{title}: latency CDF")
    ax.grid(True, which="both", alpha=.3)
    ax.legend(loc="lower right")
    fig.tight_layout()
    return _png(plt, fig)


def _one_cpu(entries: list) -> list:
    return [e for e in entries if e["cpus"] == 1 and e["variant"] == "default"
            and not e["drivers"]]


def _bars(ax, scenarios, models, value, ylabel):
    width = 0.8 / max(1, len(models))
    for i, m in enumerate(models):
        ys = [value(s, m) for s in scenarios]
        xs = [j + (i - (len(models) - 1) / 2) * width for j in range(len(scenarios))]
        ax.bar(xs, [y or 0 for y in ys], width, label=m, color=COLORS[i % len(COLORS)])
    ax.set_xticks(range(len(scenarios)))
    ax.set_xticklabels(scenarios)
    ax.set_ylabel(ylabel)
    ax.grid(True, axis="y", alpha=.3)


def _overhead(plt, entries: list):
    es = _one_cpu(entries)
    if not es:
        return None
    scenarios = list(dict.fromkeys(e["scenario"] for e in es))
    models = _models(es)
    by = {(e["scenario"], e["model"]): e for e in es}
    fig, (a1, a2) = plt.subplots(2, 1, figsize=(7, 5.2), sharex=True)
    _bars(a1, scenarios, models, lambda s, m: (by.get((s, m)) or {}).get("overhead", {})
          .get("median"), "overhead per interrupt\n(median, instructions)")
    _bars(a2, scenarios, models, lambda s, m: (by.get((s, m)) or {}).get("switches_per_irq"),
          "lwp switches\nper interrupt")
    a1.set_title("What an interrupt costs besides its handler (1 CPU)")
    a1.legend()
    fig.tight_layout()
    return _png(plt, fig)


def _masked(plt, entries: list):
    es = _one_cpu(entries)
    scenarios = list(dict.fromkeys(e["scenario"] for e in es
                                   if any(d["n"] for d in e["masked"].values())))
    if not scenarios:
        return None
    models = _models(es)
    by = {(e["scenario"], e["model"]): e for e in es}
    fig, axes = plt.subplots(len(scenarios), 1, figsize=(7, 1.9 * len(scenarios) + .6),
                             squeeze=False)
    for ax, s in zip(axes[:, 0], scenarios):
        lines = sorted({int(k) for m in models for k, d in
                        (by.get((s, m)) or {"masked": {}})["masked"].items() if d["n"]})
        labels = [f"line {ln}" for ln in lines]
        _bars(ax, labels, models, lambda lab, m: (by.get((s, m)) or {"masked": {}})["masked"]
              .get(lab.split()[1], {}).get("total"), "instructions")
        ax.set_title(f"{s}: time each line was masked while raised", fontsize=9)
    axes[0, 0].legend(fontsize=8)
    fig.tight_layout()
    return _png(plt, fig)


def _biglock(plt, entries: list):
    multi = {e["scenario"] for e in entries if e["cpus"] > 1}
    es = [e for e in entries if e["scenario"] in multi and e["variant"] == "default"
          and not e["drivers"]]
    if not es:
        return None
    fig, ax = plt.subplots(figsize=(6.4, 3.6))
    i = 0
    for s in sorted(multi):
        for m in _models(es):
            pts = sorted((e["cpus"], e["biglock_wait"]["total"], e["biglock_hold"]["total"])
                         for e in es if e["scenario"] == s and e["model"] == m)
            if not pts:
                continue
            c = COLORS[i % len(COLORS)]
            ax.plot([p[0] for p in pts], [p[1] for p in pts], "o-", color=c,
                    label=f"{s}, {m}: wait")
            ax.plot([p[0] for p in pts], [p[2] for p in pts], "x:", color=c,
                    label=f"{s}, {m}: hold")
            i += 1
    ax.set_xlabel("CPUs")
    ax.set_xticks(sorted({e["cpus"] for e in es}))
    ax.set_ylabel("instructions (all CPUs)")
    ax.set_title("Big-lock wait and hold by CPU count")
    ax.grid(True, alpha=.3)
    ax.legend(fontsize=7)
    fig.tight_layout()
    return _png(plt, fig)


def make_plots(entries: list, samples: dict) -> list:
    plt = _pyplot()
    out = []
    for title, _, es in report.groups(entries):
        png = _cdf(plt, title, es, samples)
        if png is not None:
            parts = job_name(es[0]).split("-")
            name = "cdf-" + "-".join(parts[:1] + parts[2:]) + ".png"   # without the model
            out.append((name, f"{title}: CDF of raise -> work done, one curve per model", png))
    for name, caption, fn in (
            ("overhead.png", "Overhead and lwp switches per interrupt (1 CPU)", _overhead),
            ("masked.png", "Time each line spent masked while raised (1 CPU)", _masked),
            ("biglock.png", "Big-lock wait and hold by CPU count", _biglock)):
        png = fn(plt, entries)
        if png is not None:
            out.append((name, caption, png))
    return out
