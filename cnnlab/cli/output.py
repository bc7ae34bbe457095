"""What the CLI prints: aligned tables for people, one JSON document (or JSON lines) for scripts."""

from __future__ import annotations

import sys
from typing import Any

from cnnlab.jsonio import dumps


def print_table(rows: list[dict[str, Any]]) -> None:
    """Rows of equal keys as aligned columns on stdout ("(none)" for no rows)."""
    if not rows:
        print("(none)")
        return
    cols = list(rows[0])
    cells = [[fmt(r[c]) for c in cols] for r in rows]
    widths = [max(len(c), *(len(row[i]) for row in cells)) for i, c in enumerate(cols)]
    print("  ".join(c.ljust(w) for c, w in zip(cols, widths, strict=True)).rstrip())
    for row in cells:
        print("  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)).rstrip())


def fmt(value: Any, spec: str = "{:.4f}") -> str:
    """A cell: floats with `spec`, None as "-"."""
    if isinstance(value, float):
        return spec.format(value)
    return "-" if value is None else str(value)


def print_json(document: Any) -> None:
    """One JSON document on stdout (NaN/inf as null)."""
    print(dumps(document), flush=True)


def say(text: str, *, json_mode: bool = False) -> None:
    """A message for people: stdout normally, stderr when stdout carries JSON."""
    print(text, file=sys.stderr if json_mode else sys.stdout, flush=True)
