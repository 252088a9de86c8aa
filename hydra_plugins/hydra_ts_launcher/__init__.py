"""task-spooler launcher for Hydra; the plugin is in ts_launcher.py, the work in the tsq package."""
