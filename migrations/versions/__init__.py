"""Schema revisions, oldest first; `tsq.store.HEAD_REVISION` names the newest."""
