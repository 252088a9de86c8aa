"""Code that runs inside Hydra's launching process (and `tsq retry`, which queues the same way):
checks, the code snapshot, composes, the sweep dir's claim, queueing through a backend, the
dry run, and the launch records `tsq adopt` reads back."""
