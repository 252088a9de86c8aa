"""The verbs the CLI, the Python API and the page share: cancel, retry, wait, logs, collect,
notify and the feeder of held jobs."""
