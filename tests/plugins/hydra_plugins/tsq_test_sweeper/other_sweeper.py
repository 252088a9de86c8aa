"""A sweeper that is not Hydra's basic one, as adaptive sweepers are not."""

from hydra._internal.core_plugins.basic_sweeper import BasicSweeper


class OtherSweeper(BasicSweeper):
    pass
