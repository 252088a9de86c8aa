"""Code that runs in a queued job's own interpreter: the runner, the app script's top level,
and the barrier job of `depends_on=sweep:`. A job never opens the store: it leaves files
(`tsq.files`) that a refresh folds in."""
