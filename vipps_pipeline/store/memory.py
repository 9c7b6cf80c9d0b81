"""How a pipeline process keeps its memory: Arrow's buffers from the C library's allocator, and
that allocator limited to two arenas and asked to give back what was freed before a large
commit.

A ledger-day's rows pass through Arrow buffers that live for one row group, allocated on the
fetch threads and freed on others. Arrow's default allocator (mimalloc) and glibc's arenas, one
per thread, both keep what was freed for later, so the process grew with the largest day it
had seen, not with what it held. Materializing a 1,000,000-entry day (benchmark B1b) peaked at
356-369 MB with both defaults and at 287-289 MB with both set here and the memory the fetch freed
given back before the table commit (294-305 MB without that), in the same seconds (docs/scale.md).

Arrow reads its setting once, when it is loaded: this runs when the package is imported, before
any of its modules imports pyarrow. An environment that sets ``ARROW_DEFAULT_MEMORY_POOL`` or
``MALLOC_ARENA_MAX`` keeps its own choice. No pyarrow here, and no subprocess (``query``
starts in a fraction of a second).
"""

from __future__ import annotations

import ctypes
import os
import sys

ARROW_POOL = "system"
ARENAS = 2
"""glibc's arenas for the whole process: the main thread's and one the other threads share."""
_M_ARENA_MAX = -8  # glibc's malloc.h


def keep_memory_low() -> None:
    """Both settings for this process, unless its environment chose (or Arrow is loaded)."""
    if "pyarrow" not in sys.modules:
        os.environ.setdefault("ARROW_DEFAULT_MEMORY_POOL", ARROW_POOL)
    if sys.platform.startswith("linux") and not os.environ.get("MALLOC_ARENA_MAX"):
        libc = ctypes.CDLL(None)  # the process's own C library
        mallopt = getattr(libc, "mallopt", None)  # glibc's; musl has none, nothing to limit
        if mallopt is not None:
            mallopt(_M_ARENA_MAX, ARENAS)


def release_freed() -> None:
    """Give the C library's freed memory back to the system (glibc's ``malloc_trim``): called
    before a step that allocates much after one that freed much, so that the process's peak is
    the larger of the two and not their sum. A no-op elsewhere."""
    if sys.platform.startswith("linux"):
        trim = getattr(ctypes.CDLL(None), "malloc_trim", None)
        if trim is not None:
            trim(0)
