# irqlab — every target is a verb.  The first use of any target creates .venv
# at the repository root and installs the project (and the native block hook)
# into it; nothing else has to be installed by hand.

PYTHON3 ?= python3
VENV    := .venv
PY      := $(VENV)/bin/python
STAMP   := $(VENV)/.irqlab-installed

# Which kernel configuration and scenario `run-guest` and `debug` use;
# DRIVERS="testdev=hybrid,mpsafe com=classic" builds drivers under other models.
MODEL    ?= ithread
DRIVERS  ?=
SCENARIO ?= hello
CPUS     ?= 1
TRACE    ?=
# What `explore` explores: the line (IRQ 0, the clock: a tick at every point
# is a preemption at every point; or KEY=B, a key pressed, or PACKET=V, a
# test-device packet), a planted bug, a Dask scheduler.
IRQ       ?= 0
KEY       ?=
PACKET    ?=
BUG       ?=
SCHEDULER ?=

.PHONY: all install test run-guest debug explore kernels bench bless check-bugs compare fuzz clean

all: run-guest

$(STAMP): pyproject.toml
	$(PYTHON3) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test]'
	touch $@

# The C block hook (emulator/native/); without a compiler the emulator falls
# back to its pure-Python path and says so.  The bytecode is compiled here:
# where PYTHONDONTWRITEBYTECODE is set, every start would compile each changed
# module again (0.15 s of a 0.3 s `run`).
install: $(STAMP)
	$(PY) -m emulator.native build
	$(PY) -m compileall -q emulator asm guest_kernel

test: install
	$(PY) -m pytest -q -n 2

run-guest: install
	$(PY) -m guest_kernel run --model $(MODEL) $(foreach d,$(DRIVERS),--driver $(d)) --scenario $(SCENARIO) --cpus $(CPUS) $(if $(TRACE),--trace $(TRACE))

debug: install
	$(PY) -m guest_kernel debug --model $(MODEL) $(foreach d,$(DRIVERS),--driver $(d)) --scenario $(SCENARIO) --cpus $(CPUS)

# An interrupt at every point of the scenario's run, every rule on each branch.
explore: install
	$(PY) -m guest_kernel explore --model $(MODEL) $(foreach d,$(DRIVERS),--driver $(d)) --scenario $(SCENARIO) $(if $(KEY),--key $(KEY),$(if $(PACKET),--packet $(PACKET),--irq $(IRQ))) $(if $(BUG),--bug $(BUG)) $(if $(SCHEDULER),--scheduler $(SCHEDULER))

kernels: install
	$(PY) -m guest_kernel build-all -o build

# The machine's figures (raw Unicorn, guest, interrupt storm; one JSON line),
# the assembler's speed on a kernel-sized source, and explore's branches/s.
bench: install
	$(PY) -m emulator.bench
	$(PY) -m asm.bench
	$(PY) -m emulator.explore.bench

# The interrupt models compared: every model over storm, nested,
# ithread_block, biglock and soak (and smp_mpsafe on 2 and 4 CPUs), in
# parallel; metrics.json, report.md/.html and plots into build/compare/.
compare: install
	$(PY) -m guest_kernel compare -o build/compare

bless: install
	$(PY) -m tests.golden.bless

check-bugs: install
	$(PY) -m guest_kernel bugs

# Random guests on irqlab and QEMU -icount, compared (emulator/fuzz):
# SEEDS=A:B (default 0:200), JOBS=N, SCHEDULER=tcp://HOST:PORT (Dask).
SEEDS ?= 0:200
fuzz: install
	$(PY) -m emulator fuzz --seeds $(SEEDS) $(if $(JOBS),-j $(JOBS)) $(if $(SCHEDULER),--scheduler $(SCHEDULER))

clean:
	rm -rf build .pytest_cache
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
