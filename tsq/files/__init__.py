"""The on-disk contract between tsq's processes: where a sweep's files live (the spool), the
batch spec a job reads, the `started` record and result it writes, leases, labels, and the
owner-only file primitives under them. Imported by the job, so nothing here imports the store
or Hydra at module level."""
