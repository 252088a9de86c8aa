"""`tsq.results`: the exceptions `tsq.collect()` hands back (`ResultUnavailable`, `RemoteError`)
under the name the README gives them, and the stand-ins that result pickles written before
`tsq.files.results` moved name by this module's path."""

from tsq.files.results import RemoteError, ResultUnavailable, UnpicklableResult

__all__ = ["RemoteError", "ResultUnavailable", "UnpicklableResult"]
