"""A module `importfail.py` uses; it breaks at import where TSQ_TEST_BREAK_IMPORT is set, as a
module edited into a broken state while its jobs wait in the queue would."""

import os

if os.environ.get("TSQ_TEST_BREAK_IMPORT"):
    raise ImportError("fragile cannot be imported in this job")

VALUE = 1
