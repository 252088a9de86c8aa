"""A multi-task Hydra app, as a `torch.distributed` one sees its job: every rank runs it.

Each rank leaves `rank<r>.json` in the job's output dir: what it knows of its place (from
`tsq.job_env()` when tsq runs it, and from `submitit.JobEnvironment()`, which works under
either launcher), `hydra.job.*`, and the names of the `SLURM_*` variables it sees. With `work`,
rank 0 works that many seconds, checkpointing every 3 s, resuming from its checkpoint.
"""

import json
import os
import signal
import time
from pathlib import Path
from typing import Any

import hydra
import submitit
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig

import tsq


def place() -> dict[str, Any]:
    sub = submitit.JobEnvironment()
    seen: dict[str, Any] = {
        "submitit": {
            "job_id": sub.job_id,
            "global_rank": sub.global_rank,
            "local_rank": sub.local_rank,
            "num_tasks": sub.num_tasks,
            "num_nodes": sub.num_nodes,
            "node": sub.node,
            "hostnames": list(sub.hostnames),
        },
        "slurm_vars": sorted(k for k in os.environ if k.startswith("SLURM_")),
    }
    if "TSQ_ATTEMPT" in os.environ:
        env = tsq.job_env()
        seen["tsq"] = {
            "job_id": env.job_id,
            "rank": env.rank,
            "local_rank": env.local_rank,
            "world_size": env.world_size,
            "node": env.node,
            "num_nodes": env.num_nodes,
            "hostnames": list(env.hostnames),
            "attempt": env.attempt,
            "resumed": env.resumed,
        }
    return seen


def work(out: Path, seconds: int) -> dict[str, Any]:
    ckpt = out / "checkpoint.json"
    done = json.loads(ckpt.read_text())["done"] if ckpt.exists() else 0
    resumed_at = done
    while done < seconds:
        time.sleep(1)
        done += 1
        if done % 3 == 0 or done == seconds:
            tmp = out / "checkpoint.tmp"
            tmp.write_text(json.dumps({"done": done}))
            tmp.replace(ckpt)
    return {"done": done, "resumed_at": resumed_at}


@hydra.main(version_base="1.3", config_path="conf", config_name="distributed")
def main(cfg: DictConfig) -> Any:
    hc = HydraConfig.get()
    out = Path(hc.runtime.output_dir)
    seen = place()
    rank = seen["submitit"]["global_rank"]
    seen["hydra_job"] = {"id": hc.job.id, "num": hc.job.num, "name": hc.job.name}
    seen["output_dir"] = str(out)
    (out / f"rank{rank}.json").write_text(json.dumps(seen))
    if rank == cfg.fail_rank:
        time.sleep(cfg.fail_after)
        if cfg.fail_how == "kill":
            os.kill(os.getpid(), signal.SIGKILL)
        raise ValueError(f"rank {rank} asked to fail")
    result = {"rank": rank, "x": cfg.x, "world": seen["submitit"]["num_tasks"]}
    if cfg.work and rank == 0:
        result.update(work(out, cfg.work))
    return result


if __name__ == "__main__":
    main()
