"""Process hardening for the processes that hold secrets (standard library only)."""

from __future__ import annotations

import sys


def refuse_inspection() -> None:
    """Make this process non-dumpable (Linux): its memory and environment under /proc become
    unreadable to other processes of the same user, and it leaves no core dump. The console
    and ``haven run`` hold the passphrase or the unlocked key; on a single host the intake runs
    as the same user, and a compromised intake must not read them there."""
    if not sys.platform.startswith("linux"):
        return
    import ctypes

    pr_set_dumpable = 4
    ctypes.CDLL(None, use_errno=True).prctl(pr_set_dumpable, 0, 0, 0, 0)
