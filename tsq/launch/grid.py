"""A grid sweep as Hydra's basic sweeper expands it, without holding its jobs.

`BasicSweeper.split_arguments` builds every job's override list (`itertools.product`) before
the first is launched: 10,000 lists for a 10,000-job grid. A `Grid` keeps the axes only (one
tuple of `key=value` strings per override key) and gives job `k`'s overrides by reading `k` in
the mixed radix of the axes' lengths, last axis fastest: the same jobs, in the same order, with
the same numbers as the basic sweeper's product.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Grid(Sequence[list[str]]):
    """The jobs of a grid, job `k` computed when asked for."""

    axes: tuple[tuple[str, ...], ...]

    def __len__(self) -> int:
        size = 1
        for axis in self.axes:
            size *= len(axis)
        return size

    def __getitem__(self, index: Any) -> Any:
        """Job `index`'s overrides (a slice: those jobs, as a `GridSlice`)."""
        if isinstance(index, slice):
            return GridSlice(self, range(len(self))[index])
        size = len(self)
        if index < 0:
            index += size
        if not 0 <= index < size:
            raise IndexError(index)
        picked: list[str] = []
        for axis in reversed(self.axes):
            index, at = divmod(index, len(axis))
            picked.append(axis[at])
        picked.reverse()
        return picked

    def diagonal(self, count: int) -> list[int]:
        """Up to `count` job numbers, the first job's first, that between them take every
        value of every axis (job `d` of the diagonal takes value `d mod len` of each axis), as
        far as `count` allows: the jobs a launch composes to check the sweep's values."""
        if not len(self):
            return []
        longest = max((len(axis) for axis in self.axes), default=1)
        nums: list[int] = []
        for d in range(min(count, longest)):
            num = 0
            for axis in self.axes:
                num = num * len(axis) + d % len(axis)
            nums.append(num)
        return list(dict.fromkeys(nums))

    def batches(self, max_batch_size: int | None) -> Iterator[GridSlice]:
        """The launcher's batches, as the basic sweeper cuts them (None or -1: one batch)."""
        size = len(self)
        if max_batch_size is None or max_batch_size == -1:
            max_batch_size = max(size, 1)
        if max_batch_size <= 0:
            raise ValueError(f"max_batch_size={max_batch_size}: it must be positive (or -1)")
        for start in range(0, size, max_batch_size):
            yield GridSlice(self, range(start, min(start + max_batch_size, size)))


@dataclass(frozen=True)
class GridSlice(Sequence[list[str]]):
    """Consecutive jobs of a grid (a batch), computed when asked for."""

    grid: Grid
    nums: range

    def __len__(self) -> int:
        return len(self.nums)

    def __getitem__(self, index: Any) -> Any:
        if isinstance(index, slice):
            return GridSlice(self.grid, self.nums[index])
        return self.grid[self.nums[index]]

    def __iter__(self) -> Iterator[list[str]]:
        return (self.grid[num] for num in self.nums)


def grid_of(overrides: Sequence[Any]) -> Grid:
    """The grid of parsed overrides (Hydra's `Override`s), axis by axis as
    `BasicSweeper.split_arguments` builds them: one per key, in the order keys first appear
    (a key given twice keeps its first place and its last values); a range sweep is refused
    with the basic sweeper's own message."""
    from hydra.errors import HydraException

    axes: dict[str, tuple[str, ...]] = {}
    for override in overrides:
        key = override.get_key_element()
        if override.is_sweep_override():
            if not override.is_discrete_sweep():
                raise HydraException(
                    f"BasicSweeper does not support sweep type : {override.value_type.name}"
                )
            axes[key] = tuple(f"{key}={value}" for value in override.sweep_string_iterator())
        else:
            axes[key] = (f"{key}={override.get_value_element_as_str()}",)
    return Grid(tuple(axes.values()))
