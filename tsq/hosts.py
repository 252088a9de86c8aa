"""Which host this is: the one name every record and check of "this host" uses.

A job's queue (a ts socket) is only reachable from the host that queued it, so each sweep and
each attempt records the host it was queued on, and only that host may judge a job from its
queue. The name is the hostname, or `TSQ_HOST` when set: containers that share a hostname, and
tests that play two hosts on one machine, tell themselves apart with it.
"""

from __future__ import annotations

import os
import socket


def this_host() -> str:
    """This host's name as tsq records it: `$TSQ_HOST`, else the hostname."""
    return os.environ.get("TSQ_HOST") or socket.gethostname()
