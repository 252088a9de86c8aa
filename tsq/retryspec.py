"""Kept for the pickles of retry specs written before `tsq.files.retryspec` moved: they name
these objects by this module's path."""

from tsq.files.retryspec import OutputDir, held_config, launched_batch

__all__ = ["OutputDir", "held_config", "launched_batch"]
