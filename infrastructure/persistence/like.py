"""``column LIKE pattern`` with the same rules on SQLite and PostgreSQL.

The rules are those of Camunda's queries on its usual databases: case-sensitive, ``%`` any run of
characters, ``_`` any one character, and ``\\`` the escape character (``\\%``, ``\\_`` and ``\\\\``
stand for the character itself; before any other character it is dropped). A pattern ending in a
lone ``\\`` ends in a literal backslash: PostgreSQL would refuse it, and a query should not fail
because of where a backslash is in the text it looks for.

PostgreSQL runs the pattern as ``LIKE ? ESCAPE '\\'``. SQLite's LIKE ignores the case of ASCII
letters, so there the pattern runs as the equivalent GLOB pattern, which is case-sensitive.
"""

from __future__ import annotations

from extask.infrastructure.persistence.sql import Dialect

_GLOB_LITERALS = {"*": "[*]", "?": "[?]", "[": "[[]"}


def like(dialect: Dialect, subject: str, pattern: str, *, operand: str = "?") -> tuple[str, str]:
    """SQL for "``subject`` matches the LIKE ``pattern``" and the one parameter to bind to it.
    ``operand`` is the SQL the parameter takes part in (``UPPER(?)`` to compare upper-cased)."""
    if dialect.name == "sqlite":
        return f"{subject} GLOB {operand}", like_to_glob(pattern)
    return f"{subject} LIKE {operand} ESCAPE '\\'", _closed_escape(pattern)


def like_to_glob(pattern: str) -> str:
    """A LIKE pattern as the GLOB pattern that matches the same texts."""
    glob, escaped = [], False
    for char in pattern:
        if escaped or char not in "%_\\":
            glob.append(_GLOB_LITERALS.get(char, char))
            escaped = False
        elif char == "\\":
            escaped = True
        else:
            glob.append("*" if char == "%" else "?")
    if escaped:
        glob.append("\\")  # GLOB has no escape character: a backslash stands for itself
    return "".join(glob)


def _closed_escape(pattern: str) -> str:
    """The pattern with a trailing lone escape character escaped itself, so it stands for a backslash."""
    trailing = len(pattern) - len(pattern.rstrip("\\"))
    return pattern + "\\" if trailing % 2 else pattern
