"""The batch spec a job reads, and the configs the launcher composes for it at submit time."""

from __future__ import annotations

import json
import os
import pickle
from pathlib import Path

import pytest
from hydra._internal.config_loader_impl import ConfigLoaderImpl
from hydra._internal.utils import create_config_search_path
from hydra.types import HydraContext, RunMode
from omegaconf import OmegaConf

from tsq.errors import SpecError
from tsq.files.jobspec import (
    BatchSpec,
    CodeSpec,
    pickled,
    queue_options,
    read_header,
    read_job,
    write_spec,
)
from tsq.files.retryspec import write_retry_spec
from tsq.files.safeio import write_atomic
from tsq.launch.compose import record_composes


def _batch(**overrides: list[str]) -> BatchSpec:
    return BatchSpec(
        sweep_id="abc",
        task_function=lambda cfg: cfg.x * 2,
        callbacks=None,
        singleton_state={},
        overrides={int(num): ov for num, ov in overrides.items()},
    )


def _spec(tmp_path: Path, configs: dict[int, bytes]) -> Path:
    path = tmp_path / "spec-0.pkl"
    batch = _batch(**{str(num): [f"x={num}"] for num in configs})
    write_spec(path, {"slots": 2}, batch, configs, CodeSpec.as_launched())
    return path


def test_each_job_reads_its_own_config_and_no_other(tmp_path: Path) -> None:
    configs = {num: pickled(OmegaConf.create({"x": num}), "config") for num in (0, 1)}
    path = _spec(tmp_path, {**configs, 2: b"not a pickle"})
    for num in (0, 1):
        job = read_job(path, num)
        assert job.config.x == num
        assert job.batch.overrides[num] == [f"x={num}"]
        assert job.batch.task_function(job.config) == 2 * num
    assert queue_options(read_header(path)) == {"slots": 2}, "retry reads how jobs were queued"
    with pytest.raises(pickle.UnpicklingError):
        read_job(path, 2)


def test_a_spec_queued_before_the_queue_rename_is_retried_alike(tmp_path: Path) -> None:
    """Specs written before revision 0009 keep how their jobs were queued under "ts": a retry
    (and the feeder) still reads it, and the retry's own spec names it "queue"."""
    configs = {0: pickled(OmegaConf.create({"x": 0}), "config")}
    path = _spec(tmp_path, configs)
    header_line, rest = path.read_bytes().split(b"\n", 1)
    header = json.loads(header_line)
    header["ts"] = header.pop("queue")
    path.write_bytes(json.dumps(header).encode() + b"\n" + rest)
    assert queue_options(read_header(path)) == {"slots": 2}
    retried = tmp_path / "retry-0.pkl"
    write_retry_spec(retried, path, [0], {})
    assert read_header(retried)["queue"] == {"slots": 2}
    assert read_job(retried, 0).config.x == 0


def test_a_spec_it_cannot_use_is_one_clear_error(tmp_path: Path) -> None:
    path = _spec(tmp_path, {0: pickled(OmegaConf.create({"x": 0}), "config")})
    with pytest.raises(SpecError, match="holds no job 7"):
        read_job(path, 7)

    data = path.read_bytes()
    write_atomic(path, data[:-10])
    with pytest.raises(SpecError, match="is truncated"):
        read_job(path, 0)

    write_atomic(path, data.replace(b'"format": 2', b'"format": 1', 1))
    with pytest.raises(SpecError, match=r"another version of tsq .*launch the sweep again"):
        read_job(path, 0)

    write_atomic(path, b"\x80\x04garbage")
    with pytest.raises(SpecError, match="is not a tsq job spec"):
        read_job(path, 0)

    write_atomic(path, data)
    os.chmod(path, 0o620)
    with pytest.raises(SpecError, match="writable by group or others"):
        read_job(path, 0)

    with pytest.raises(SpecError, match=r"cannot read job spec .*No such file"):
        read_header(tmp_path / "missing.pkl")


def test_configs_are_those_composed_at_submit_time(tmp_path: Path) -> None:
    """The sweeper's compose before `launch()` is the one queued: later edits do not reach it,
    and a job the sweeper did not compose is composed when taken."""
    conf = tmp_path / "conf"
    conf.mkdir()
    (conf / "config.yaml").write_text("x: 0\nmessage: before\n")
    loader = ConfigLoaderImpl(config_search_path=create_config_search_path(str(conf)))
    master = loader.load_configuration("config", overrides=[], run_mode=RunMode.MULTIRUN)
    context = HydraContext(config_loader=loader, callbacks=None)
    recorder = record_composes(context, master, main_by_name=False)
    assert context.config_loader is recorder, "the sweeper composes through hydra_context"

    swept = context.config_loader.load_sweep_config(master_config=master, sweep_overrides=["x=1"])
    assert swept.message == "before"
    (conf / "config.yaml").write_text("x: 0\nmessage: after\n")

    def taken(overrides: list[str]) -> object:
        path = tmp_path / "spec.pkl"
        write_spec(
            path, {}, _batch(), {0: recorder.take(overrides).pickled}, CodeSpec.as_launched()
        )
        return read_job(path, 0).config

    first = taken(["x=1"])
    assert (first.x, first.message) == (1, "before")
    assert first.hydra.overrides.task == ["x=1"]
    later = taken(["x=2"])
    assert (later.x, later.message) == (2, "after"), "not composed by the sweeper: composed now"
    again = taken(["x=1"])
    assert again.message == "after", "a recorded compose is used once"


@pytest.mark.parametrize(
    "module, name",
    [
        ("tsq.jobspec", "BatchSpec"),
        ("tsq.jobspec", "unwrapped_attribute"),
        ("tsq.retryspec", "OutputDir"),
        ("tsq.retryspec", "launched_batch"),
        ("tsq.retryspec", "held_config"),
        ("tsq.results", "RemoteError"),
        ("tsq.results", "UnpicklableResult"),
    ],
)
def test_pickles_written_before_the_layout_still_load(module: str, name: str) -> None:
    """Specs of jobs queued, and results written, by tsq before its modules moved into
    `tsq.files` name these objects by their old paths: they load as the same objects."""
    import importlib

    new = importlib.import_module(module.replace("tsq.", "tsq.files.", 1))
    assert pickle.loads(f"c{module}\n{name}\n.".encode()) is getattr(new, name)
