"""The exit statuses of every ``looplab`` command: one table, printed by ``looplab --help`` and kept word for word
in README.md ("Exit status"; a test compares the two)."""

from __future__ import annotations

EXIT_OK = 0
EXIT_INVALID = 1
EXIT_USAGE = 2
EXIT_TOOL = 3
EXIT_INTERRUPTED = 130
EXIT_BROKEN_PIPE = 141

TABLE: list[tuple[int, str]] = [
    (EXIT_OK, "success"),
    (EXIT_INVALID, "a negative verdict, not an error: `evaluate` found the mapping invalid (Timeloop's ERROR line), "
                   "`map` found no valid mapping"),
    (EXIT_USAGE, "bad input or usage: one `looplab: error: ...` line naming the file, field, option or point"),
    (EXIT_TOOL, "a simulator or external tool could not do the work: not installed (`evaluate`, `evaluate --batch`, "
                "`sweep`, `map`), or evaluations that crashed or timed out (`evaluate`; `evaluate --batch` and "
                "`sweep` when any case or task failed)"),
    (EXIT_INTERRUPTED, "interrupted (Ctrl-C)"),
    (EXIT_BROKEN_PIPE, "standard output closed early (e.g. `looplab ... | head`); ends quietly"),
]


def markdown() -> str:
    """The table as README.md shows it."""
    rows = [f"| {c} | {t.replace('|', chr(92) + '|')} |" for c, t in TABLE]  # a literal | is \\| in a cell
    return "\n".join(["| status | meaning |", "|---|---|", *rows])


def epilog() -> str:
    """The table as plain text for ``looplab --help``."""
    import textwrap

    return "exit status:\n" + "\n".join(textwrap.fill(t.replace("`", ""), width=100, initial_indent=f"  {c:<4} ",
                                                       subsequent_indent=" " * 7) for c, t in TABLE)
