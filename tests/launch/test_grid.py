"""`tsq.launch.grid`: the grid of `hydra/sweeper=tsq` is the basic sweeper's product, job for
job and batch for batch, without holding its jobs."""

from __future__ import annotations

import itertools

import pytest


@pytest.mark.parametrize(
    "arguments",
    [
        [],
        ["a=1"],
        ["a=1,2,3", "b=x,y"],
        ["a=range(0,5)", "+b=choice(p,q)", "c=1", "a=7,8"],  # a key given twice: last values
        ["db=sqlite,postgres", "x=range(1,10,3)", "~y", "z='a,b'"],
    ],
)
@pytest.mark.parametrize("batch", [None, 1, 4])
def test_the_grid_is_the_basic_sweepers_product(arguments: list[str], batch: int | None) -> None:
    from hydra._internal.core_plugins.basic_sweeper import BasicSweeper
    from hydra.core.override_parser.overrides_parser import OverridesParser

    from tsq.launch.grid import grid_of

    parsed = OverridesParser.create().parse_overrides(arguments)
    expected = BasicSweeper.split_arguments(parsed, batch)
    grid = grid_of(parsed)
    got = [[list(job) for job in chunk] for chunk in grid.batches(batch)]
    assert got == expected
    assert [chunk.nums.start for chunk in grid.batches(batch)] == list(
        itertools.accumulate([0] + [len(c) for c in expected[:-1]])
    )
    values = {o for job in itertools.chain(*expected) for o in job}
    checked = {o for num in grid.diagonal(100) for o in grid[num]}
    assert checked == values, "the launch's checks take every value"
    assert grid.diagonal(100)[0] == 0


def test_a_range_sweep_is_refused_as_the_basic_sweeper_refuses_it() -> None:
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from hydra.errors import HydraException

    from tsq.launch.grid import grid_of

    with pytest.raises(HydraException, match="does not support sweep type : INTERVAL_SWEEP"):
        grid_of(OverridesParser.create().parse_overrides(["a=interval(0,1)"]))


def test_params_come_before_the_command_line_as_with_the_basic_sweeper() -> None:
    """`hydra.sweeper.params` first: a key the command line gives again takes its values."""
    from hydra._internal.core_plugins.basic_sweeper import BasicSweeper
    from hydra.core.override_parser.overrides_parser import OverridesParser

    from tsq.launch.sweeper import expand
    from tsq.options import SweepOptions

    params, arguments = {"a": "1,2", "b": "x,y"}, ["c=3,4", "a=5"]
    basic = BasicSweeper(max_batch_size=None, params=params)
    parsed = OverridesParser.create().parse_overrides(basic._parse_config() + arguments)
    expected = BasicSweeper.split_arguments(parsed, None)[0]
    grid = expand(SweepOptions(params=params), arguments, config_loader=None)
    assert [list(job) for job in grid] == expected
    assert expected[0] == ["a=5", "b=x", "c=3"]
