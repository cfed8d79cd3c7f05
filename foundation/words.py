"""Counts in messages: '1 chip', '8 chips'. A module of its own so that any command can import it cheaply."""

from __future__ import annotations


def counted(n: int, noun: str, plural: str | None = None) -> str:
    """'1 chip', '8 chips', '2 replicas': every count aistack prints goes through here."""
    return f"{n} {noun}" if n == 1 else f"{n} {plural or noun + 's'}"
