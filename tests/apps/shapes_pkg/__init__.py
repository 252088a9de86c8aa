"""An app laid out as a package and run with `python -m shapes_pkg.app`."""
