"""Counting in messages: "1 job", "2 jobs". One helper, so no message says "1 jobs"."""

from __future__ import annotations


def plural(count: int, noun: str, nouns: str | None = None) -> str:
    """`count` and the noun that agrees with it; `nouns` for plurals that are not noun + "s"."""
    return f"{count} {noun if count == 1 else nouns or noun + 's'}"
