"""Processes: whether one still runs (a killed writer's temporaries, or a dead ``dev``'s file,
are then safe to ignore), and how many cores this one may use (workers to start).

Its own module, free of Arrow and pydantic, because the command line asks it before every
command (``query`` included, which must start in a fraction of a second).
"""

from __future__ import annotations

import os

__all__ = ["pid_alive", "usable_cores"]


def pid_alive(pid: object) -> bool:
    """Whether process ``pid`` still runs; a pid that is not a positive int never does (the
    value comes from a file another process wrote, so it is not trusted to be an int)."""
    if not isinstance(pid, int) or isinstance(pid, bool) or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def usable_cores() -> int:
    """The cores this process may run on (a container's or ``taskset``'s limit, where the
    system tells it: Linux; elsewhere the machine's count)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1
