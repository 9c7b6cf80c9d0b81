"""Many problems, one message: what every destination receives from one pass.

A year's backfill that finds 300 failing days must reach a person as one message they can
read, not 300: the first items in full, then a count per ledger with its date range. Problems
of the whole pipeline (keys, outages) come first, then ledgers, then single days.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

from vipps_pipeline.alerts.problems import Problem

FIRST_ITEMS = 10
"""Problems shown in full in one message; the rest are counted."""

ORDER = {"credentials": 0, "run": 1, "not_yours": 2, "stale": 3, "check": 4}


def ordered(problems: Sequence[Problem]) -> list[Problem]:
    return sorted(problems, key=lambda p: (ORDER.get(p.kind, 9), p.ledger_id, p.when, p.key))


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def subject_line(new: int, resolved: int) -> str:
    parts = [_plural(new, "new problem")] if new else []
    parts += [f"{resolved} resolved"] if resolved else []
    return "vipps_pipeline: " + ", ".join(parts)


def problem_lines(p: Problem) -> list[str]:
    where = " · ".join(x for x in (p.ledger, p.when) if x)
    lines = [f"PROBLEM: {p.title}" + (f" · {where}" if where else "")]
    lines += [f"  Expected: {p.expected}"] if p.expected else []
    lines += [f"  Found: {p.found}"] if p.found else []
    lines += [f"  What to do: {p.todo}"] if p.todo else []
    lines += [f"  Open: {p.link}"] if p.link else []
    return lines


def resolved_line(p: Problem) -> str:
    where = " · ".join(x for x in (p.ledger, p.when) if x)
    return f"RESOLVED: {p.title}" + (f" · {where}" if where else "")


def _the_rest(rest: Sequence[Problem], word: str) -> list[str]:
    """The problems not shown in full: one line per ledger (or per kind without a ledger)."""
    by_ledger: dict[str, list[Problem]] = defaultdict(list)
    for p in rest:
        by_ledger[p.ledger or p.kind].append(p)
    lines = [f"... and {_plural(len(rest), 'more ' + word)}:"]
    for who, items in sorted(by_ledger.items()):
        dated = sorted(p.when.removeprefix("ledger date ") for p in items if p.when)
        span = f", {dated[0]} to {dated[-1]}" if dated else ""
        lines.append(f"  {who}: {len(items)}{span}")
    return lines


def compose(
    new: Sequence[Problem], resolved: Sequence[Problem], first: int = FIRST_ITEMS
) -> tuple[str, str]:
    """(subject, text) of one message announcing ``new`` problems and ``resolved`` ones."""
    subject = subject_line(len(new), len(resolved))
    lines = [subject]
    new, resolved = ordered(new), ordered(resolved)
    for p in new[:first]:
        lines += ["", *problem_lines(p)]
    if len(new) > first:
        lines += ["", *_the_rest(new[first:], "problem")]
    if resolved:
        lines.append("")
        lines += [resolved_line(p) for p in resolved[:first]]
    if len(resolved) > first:
        lines += _the_rest(resolved[first:], "resolved")
    return subject, "\n".join(lines) + "\n"
