"""The store's alembic scripts, shipped as tsq.migrations so an installed tsq can migrate."""
