"""Why a run ended that leaves no result of its own: `<num>[.<attempt>].ending.json`.

Written by the runner (`tsq.job.runner`) in two cases, read by the refresh (`observe`) to say
why: rank 0 requeued the job at its time limit (`max_num_timeout`; the run is killed by the
requeue, and `timeouts` counts the requeues so far, for the next run to read), or a rank of a
multi-task job failed and Slurm's `--kill-on-bad-exit` may stop rank 0 before it writes the
job's result. The first writer wins (`write_first`): that is the first rank to fail.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

from tsq.errors import SpecError
from tsq.files.safeio import read_private


@dataclass(frozen=True)
class Ending:
    reason: str
    timeouts: int = 0  # the job's requeues at its time limit, this one included

    def write_first(self, path: Path) -> bool:
        """Write the record unless the run has one already (then False): linked into place
        whole, so a reader never sees it half written and a second writer never replaces it."""
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "w") as f:
                f.write(json.dumps(asdict(self)))
            os.link(tmp, path)
        except FileExistsError:
            return False
        finally:
            os.unlink(tmp)
        return True


def read_ending(path: Path) -> Ending | None:
    """None when the run left none; SpecError when it is unreadable or damaged."""
    try:
        data = json.loads(read_private(path))
        return Ending(reason=str(data["reason"]), timeouts=int(data.get("timeouts", 0)))
    except FileNotFoundError:
        return None
    except OSError as e:
        raise SpecError(f"cannot read {path}: {e.strerror or e}") from None
    except (ValueError, TypeError, KeyError) as e:
        raise SpecError(f"{path} is damaged: {e}") from None
