"""irqlab's checkers: lock and interrupt rules over the trace and machine state.

``Checker`` (core.py) runs rules over the event stream; ``all_rules()``
(rules.py, spinout.py) gives the thirteen rules (issues 5 and 13), explained
in RULES.md with what each cannot see and the planted bugs that prove it;
``python -m emulator.checks bugs`` (bugs.py) proves each rule fires on the
kernel configuration built to break it, and ``python -m emulator.checks
rules`` prints the rules with their explanations.
"""

from emulator.checks.core import Checker, Rule, State, Violation  # noqa: F401
from emulator.checks.rules import RULE_CLASSES, all_rules  # noqa: F401
