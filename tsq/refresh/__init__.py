"""Bringing the store up to date: observing each job (its queue, its files, its process) and the
pure policy that decides what the observation means for its record."""
