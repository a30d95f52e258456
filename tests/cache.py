"""Work shared by every test process of one pytest session (xdist workers too).

``make test`` runs pytest with ``-n 2``: two worker processes, each with its
own session fixtures, so a kernel configuration built by a session fixture
was built once per worker, and a QEMU boot two tests make the same way ran
twice.  This module keeps such results in one directory per pytest session,
shared by its workers, and makes each result once:

``session_dir(tmp_path_factory, name)`` is that directory's ``name``
subdirectory: under the session's base temporary directory, which xdist
workers share (their own base is ``<session base>/popen-gwN``).  A new
session starts empty, so nothing is reused from an earlier run: a result
always comes from this session's code.

``once(directory, key, make)`` runs ``make(path)`` for ``directory/key``
unless an earlier call (in any worker) completed it; a per-key lock file
(fcntl.flock) makes a second worker wait for the first instead of doing the
same work.  ``make`` writes what it produces under ``path``; when it raises,
nothing is marked done and the next caller tries again (and fails the same
way, in its own test).  Returns ``path``.

``adopt(directory, key, source)`` is ``once`` with a copy of the directory
``source`` for ``make``: a result some test made anyway (build-all's
kernels) becomes the session's, unless the session made it already.
"""

from __future__ import annotations

import fcntl
import os
import shutil
from pathlib import Path
from typing import Callable


def session_dir(tmp_path_factory, name: str) -> Path:
    """``name`` under the base temporary directory that this session's workers share."""
    base = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        base = base.parent                    # <session base>/popen-gwN -> <session base>
    path = base / name
    path.mkdir(parents=True, exist_ok=True)
    return path


def once(directory: Path, key: str, make: Callable[[Path], None]) -> Path:
    """``directory/key``, made by ``make`` once per session whichever worker asks first."""
    path = Path(directory) / key
    done = Path(directory) / f"{key}.done"
    with open(Path(directory) / f"{key}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)       # released when the file closes
        if not done.exists():
            make(path)
            done.touch()
    return path


def adopt(directory: Path, key: str, source: Path) -> Path:
    """``directory/key``: a copy of ``source`` unless the session made it already."""
    return once(directory, key, lambda path: shutil.copytree(source, path, dirs_exist_ok=True))
