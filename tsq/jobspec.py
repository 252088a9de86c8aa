"""Kept for the pickles of specs written before `tsq.files.jobspec` moved: they name these
objects by this module's path."""

from tsq.files.jobspec import BatchSpec, unwrapped_attribute

__all__ = ["BatchSpec", "unwrapped_attribute"]
