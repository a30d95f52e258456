"""``python -m emulator fuzz``: random guests on irqlab and QEMU -icount, compared.

Contract
--------
    python -m emulator fuzz [--seeds A:B] [-j N] [--scheduler ADDRESS]
        [--out DIR] [--no-shrink] [--family NAME ...] [--list]

For every seed in ``A:B`` (default ``0:200``; Python range, B excluded)
``gen.generate(seed)`` makes a program (emulator/fuzz/gen.py: families,
ops), which is assembled and run on irqlab and on qemu-system-i386 (-icount
shift=0,sleep=off; emulator/fuzz/compare.py).  ``--family`` keeps only the
seeds whose family is named.  The seeds are spread with the engine
exploration uses (emulator/pool.py ``run_ordered``): a local process pool
of ``-j N`` processes (default: the CPUs this process may use), or the Dask
cluster at ``--scheduler tcp://HOST:PORT``; results come back in seed
order, so the report is the same however it was spread.

Each divergence is shrunk (emulator/fuzz/shrink.py; here, one at a time)
and written to ``--out`` (default ``build/fuzz``) as a probe,
``fuzz-SEED-FAMILY.S``.  A seed on which QEMU did not finish within
``compare.QEMU_TIMEOUT`` seconds of host time is not a divergence and not a
pass: nothing was compared (a test-infrastructure failure, or a QEMU hang
the generator must learn to avoid); it gets its own line, ``seed N
(FAMILY, K cpu): QEMU hung ...``, is not shrunk, and is counted apart.
Output: one line per divergence or QEMU hang, then ``fuzz: N programs
(seeds A:B), D divergences`` (with ``, H QEMU hangs`` when there were any)
and the count per family on one more line.  On stderr, when it is not a terminal (a log), a progress line every
500 programs (a terminal gets a tqdm bar).  ``--list`` prints each seed's
family and CPU count and runs nothing.

Exit status: 0 no divergence and no QEMU hang; 1 one or more divergences;
3 no divergence but QEMU hung on one or more seeds (those were not
compared); 2 bad arguments or no qemu-system-i386 (one line); 70 an
internal error (one line).
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter

from emulator.fuzz import compare, gen, shrink

PROGRESS_EVERY = 500          # a progress line on stderr when it is not a terminal


def _seeds(text: str) -> range:
    a, sep, b = text.partition(":")
    try:
        lo, hi = int(a), int(b)
    except ValueError:
        raise argparse.ArgumentTypeError(f"--seeds wants A:B (two integers), not {text!r}") from None
    if not sep or lo < 0 or hi <= lo:
        raise argparse.ArgumentTypeError(f"--seeds wants A:B with 0 <= A < B, not {text!r}")
    return range(lo, hi)


class _Parser(argparse.ArgumentParser):
    def error(self, message):              # one line, status 2
        sys.stderr.write(f"irqlab fuzz: {message}\n")
        raise SystemExit(2)


def parser() -> argparse.ArgumentParser:
    p = _Parser(prog="python -m emulator fuzz",
                                description="random guests on irqlab and QEMU -icount, compared")
    p.add_argument("--seeds", type=_seeds, default=range(0, 200), metavar="A:B")
    p.add_argument("-j", "--jobs", type=int, default=None, metavar="N")
    p.add_argument("--scheduler", default=None, metavar="ADDRESS",
                   help="a Dask distributed scheduler, tcp://HOST:PORT")
    p.add_argument("--out", default="build/fuzz", metavar="DIR")
    p.add_argument("--no-shrink", action="store_true")
    p.add_argument("--family", action="append", choices=gen.FAMILIES, default=None)
    p.add_argument("--list", action="store_true")
    return p


def check_seed(qemu: str, seed: int) -> compare.Verdict:
    """One seed, both machines (module level: the pool ships it to workers)."""
    return compare.check(gen.generate(seed), qemu)


def main(argv=None) -> int:
    try:
        args = parser().parse_args(argv)
    except SystemExit as e:
        return 0 if e.code == 0 else 2
    seeds = [s for s in args.seeds
             if args.family is None or gen.FAMILIES[s % len(gen.FAMILIES)] in args.family]
    if args.list:
        for s in seeds:
            p = gen.generate(s)
            print(f"{s} {p.family} cpus={p.ncpus} ops={len(p.ops)}")
        return 0
    if args.jobs is not None and args.jobs < 1:
        sys.stderr.write("irqlab fuzz: -j wants a positive number\n")
        return 2
    try:
        qemu = compare.qemu_path()
    except compare.QemuMissing as e:
        sys.stderr.write(f"irqlab fuzz: {e}\n")
        return 2
    from emulator.pool import PoolError, run_ordered   # dask/tqdm: only when programs run
    divergences, hung, families = [], [], Counter()
    try:
        for done, v in enumerate(run_ordered(check_seed, seeds, context=qemu, jobs=args.jobs,
                                             scheduler=args.scheduler, desc="fuzz"), 1):
            if done % PROGRESS_EVERY == 0 and not sys.stderr.isatty():   # a log, not a terminal
                sys.stderr.write(f"fuzz: {done}/{len(seeds)} programs, "
                                 f"{len(divergences)} divergences\n")
            families[v.family] += 1
            if v.qemu_hung:
                hung.append(v)
                print(f"seed {v.seed} ({v.family}, {v.ncpus} cpu): QEMU hung (no end within "
                      f"{compare.QEMU_TIMEOUT:.0f} s of host time; irqlab: {v.irqlab.end}): "
                      "not compared", flush=True)
            elif not v.same:
                divergences.append(v)
                print(f"seed {v.seed} ({v.family}, {v.ncpus} cpu): {v.difference()}", flush=True)
    except PoolError as e:
        sys.stderr.write(f"irqlab fuzz: {e}\n")
        return 2
    for v in divergences if not args.no_shrink else ():
        path = report(v, qemu, args.out)
        print(f"seed {v.seed}: shrunk to {path}", flush=True)
    print(f"fuzz: {len(seeds)} programs (seeds {args.seeds.start}:{args.seeds.stop}), "
          f"{len(divergences)} divergences" + (f", {len(hung)} QEMU hangs" if hung else ""))
    print("families: " + ", ".join(f"{f} {families[f]}" for f in gen.FAMILIES if families[f]))
    return 1 if divergences else 3 if hung else 0


def report(verdict: compare.Verdict, qemu: str, out: str):
    """Shrink the program behind ``verdict`` and write it as a probe."""
    def diverges(program: gen.Program) -> bool:
        return not compare.check(program, qemu).same
    small = shrink.shrink(gen.generate(verdict.seed), diverges)
    final = compare.check(small, qemu)
    return shrink.write_probe(final, small, out, compare.source(small))
