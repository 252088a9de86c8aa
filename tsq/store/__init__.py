"""The store: what was launched, where, and how far each job got.

`models` are the tables, `engine` opens a store and keeps its schema at head, `queries` reads and
writes it. Callers import from here.
"""

from tsq.states import INTENT_CANCEL, INTENT_HOLD, INTENT_SUBMIT, UPDATE_FIELDS, JobUpdate, Rerun
from tsq.store.engine import (
    HEAD_REVISION,
    LONG_PATIENCE_S,
    PATIENCE_S,
    STORE_FILES,
    Location,
    default_location,
    locate,
    migrations_dir,
)
from tsq.store.models import Attempt, Base, Job, Sweep
from tsq.store.queries import Reusable, Store

__all__ = [
    "HEAD_REVISION",
    "INTENT_CANCEL",
    "INTENT_HOLD",
    "INTENT_SUBMIT",
    "LONG_PATIENCE_S",
    "PATIENCE_S",
    "STORE_FILES",
    "UPDATE_FIELDS",
    "Attempt",
    "Base",
    "Job",
    "JobUpdate",
    "Location",
    "Rerun",
    "Reusable",
    "Store",
    "Sweep",
    "default_location",
    "locate",
    "migrations_dir",
]
