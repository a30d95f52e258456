"""The REPL on a terminal: line editing, history across sessions, Tab completion.

Contract
--------
``reader(repl) -> () -> str`` gives a function that shows ``repl.prompt``
and returns one line (``EOFError`` on Ctrl-D, ``KeyboardInterrupt`` on
Ctrl-C at the prompt), using prompt_toolkit.  Completion
(``repl.complete(text)``: commands, info topics, symbols) is offered when
Tab is pressed, not while typing.  History is kept across sessions in
``history_path()``: ``$XDG_CACHE_HOME/irqlab/debug_history``
(``~/.cache/irqlab/...`` when XDG_CACHE_HOME is unset or not absolute, as
the XDG Base Directory specification says); when that file cannot be made
or written, history lives in memory for the session and one line says so.

prompt_toolkit is imported here, inside ``reader``, so a piped or scripted
session (no terminal) never pays for it.
"""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path

_WORD = re.compile(r"[^\s]+")


def history_path() -> Path:
    base = os.environ.get("XDG_CACHE_HOME", "")
    root = Path(base) if os.path.isabs(base) else Path.home() / ".cache"
    return root / "irqlab" / "debug_history"


def _history():
    # prompt_toolkit only for a terminal (see above)
    from prompt_toolkit.history import FileHistory, InMemoryHistory
    path = history_path()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "a", encoding="utf-8"):
            pass
        return FileHistory(str(path))
    except OSError as e:
        sys.stderr.write(f"debug: no history across sessions ({path}: {e.strerror})\n")
        return InMemoryHistory()


def reader(repl):
    # prompt_toolkit only for a terminal (see above)
    from prompt_toolkit import PromptSession
    from prompt_toolkit.completion import Completer, Completion

    class _Completer(Completer):
        def get_completions(self, document, complete_event):
            word = document.get_word_before_cursor(pattern=_WORD)
            for c in repl.complete(document.text_before_cursor):
                yield Completion(c, start_position=-len(word))

    session = PromptSession(history=_history(), completer=_Completer(),
                            complete_while_typing=False)
    return lambda: session.prompt(repl.prompt)
