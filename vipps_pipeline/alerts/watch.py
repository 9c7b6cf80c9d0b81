"""What is wrong now, read from what is stored: failing findings, journals that do not balance,
ledger freshness, payouts.

Findings and journals are read incrementally: a ledger whose folders did not change since the
last pass (the same :func:`~vipps_pipeline.sync.completeness.fingerprint`) is not even listed,
and of a changed one only the files written since the last pass are read (a journal also when
its day's statement was written since). So a pass over a thousand
ledgers with years of days costs a few ``stat`` calls per ledger, and the problems of files not
read again are the ones the sent-record already holds.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Mapping
from datetime import date, timedelta

from vipps_pipeline.alerts.problems import Problem
from vipps_pipeline.alerts.wording import (
    FEED_CHECK_KIND,
    LedgerInfo,
    check_problem,
    freshness_problem,
    journal_problem,
    payout_problem,
)
from vipps_pipeline.books.journal import Chart, DayCheck, day_balance
from vipps_pipeline.domain import TOPICS, Status
from vipps_pipeline.settings import PipelineSettings, SettingsError
from vipps_pipeline.store import objstore
from vipps_pipeline.store.paths import (
    JOURNAL,
    RECONCILIATION,
    STATEMENTS,
    journal_path,
    kind_path,
    ledgers_path,
    payout_matches_path,
    statement_path,
)
from vipps_pipeline.store.schemas import LEDGER_SCHEMA, PAYOUT_MATCH_SCHEMA
from vipps_pipeline.sync import completeness, planner
from vipps_pipeline.sync.engine import chart_for

FINDING_KINDS = (RECONCILIATION, FEED_CHECK_KIND)
"""The folders whose ``fail`` findings are problems: the reconciliation and the feed's."""
JOURNAL_KINDS = (JOURNAL, STATEMENTS)
"""The journal's verdict on a day depends on its lines and on the day's statement."""

READ_COLUMNS = ["ledger_id", "ledger_date", "topic", "check", "status", "expected", "actual"]


def ledger_infos(settings: PipelineSettings) -> dict[str, LedgerInfo]:
    """Currency and sales-unit names by ledger, from the ledger list (empty before it exists)."""
    path = ledgers_path(settings.data_dir)
    if not path.exists():
        return {}
    table = objstore.read_table(
        path, schema=LEDGER_SCHEMA, columns=["ledger_id", "currency", "sales_units"]
    )
    return {
        r["ledger_id"]: LedgerInfo(r["currency"], tuple(r["sales_units"] or ()))
        for r in table.to_pylist()
    }


def _stamp(settings: PipelineSettings, ledger_id: str, kinds: tuple[str, ...]) -> str | None:
    found = completeness.fingerprint(settings.data_dir, ledger_id, kinds)
    return None if found is None else hashlib.sha1(repr(found).encode()).hexdigest()


def _failing(settings: PipelineSettings, kind: str, ledger_id: str, d: date) -> list[dict]:
    path = kind_path(settings.data_dir, kind, ledger_id, d)
    try:
        rows = objstore.read_table(path, columns=[*READ_COLUMNS, "detail"]).to_pylist()
    except FileNotFoundError:
        return []
    return [r for r in rows if r["status"] == Status.FAIL]


Dated = Callable[[completeness.Inventory], Iterable[tuple[str, date, int]]]
"""The files problems come from, as (kind, date, when it or an input last changed)."""


def _incremental(
    settings: PipelineSettings,
    ledger_id: str,
    marks: dict,
    known: Iterable[Problem],
    kinds: tuple[str, ...],
    dated: Dated,
    read: Callable[[str, date], Iterable[Problem]],
) -> dict[str, Problem]:
    """The ``check`` problems of one ledger from the files of ``kinds`` changed since the last
    pass (``marks``: its ``stamp`` and ``mark``, the newest change read, updated here); the
    open ones (``known``) of every file not read again are kept."""
    stamp = _stamp(settings, ledger_id, kinds)
    mine = {
        p.key: p
        for p in known
        if p.kind == "check" and p.ledger_id == ledger_id and p.source.split("/")[0] in kinds
    }
    if stamp is not None and stamp == marks.get("stamp"):
        return mine
    inv = completeness.scan(settings.data_dir, ledger_id, kinds=kinds)
    mark = int(marks.get("mark", -1))
    newest, stored, reread, fresh = mark, set(), set(), {}
    for kind, d, mtime in dated(inv):
        source = f"{kind}/{ledger_id}/{d}"
        stored.add(source)
        # a file written in the same tick as the last pass's newest is read again
        if mtime < mark - completeness.RACY_NS:
            continue
        newest = max(newest, mtime)
        reread.add(source)
        fresh |= {p.key: p for p in read(kind, d)}
    kept = {k: p for k, p in mine.items() if p.source in stored and p.source not in reread}
    marks.update(stamp=stamp, mark=newest)
    return kept | fresh


def finding_problems(
    settings: PipelineSettings,
    ledger_id: str,
    scan: dict,
    known: Iterable[Problem],
    info: LedgerInfo,
    ui_url: str | None,
) -> dict[str, Problem]:
    """The ledger's failing findings now. ``scan`` is this ledger's record of the last pass
    (``stamp`` and ``mark``), updated here; ``known`` are the problems the last pass left
    open, kept for every file not read again."""

    def dated(inv: completeness.Inventory) -> Iterable[tuple[str, date, int]]:
        return ((k, d, t) for k in FINDING_KINDS for d, t in inv.files.get(k, {}).items())

    def read(kind: str, d: date) -> list[Problem]:
        rows = _failing(settings, kind, ledger_id, d)
        return [check_problem(kind, row, info, ui_url) for row in rows]

    return _incremental(settings, ledger_id, scan, known, FINDING_KINDS, dated, read)


def _journal_day(
    settings: PipelineSettings, ledger_id: str, d: date, chart: Chart, info: LedgerInfo
) -> tuple[DayCheck, str | None] | None:
    """The stored journal of a day judged by the journal's own rule against its statement
    (a topic without a statement row moved nothing), and its currency; None when gone."""
    try:
        lines = objstore.read_table(journal_path(settings.data_dir, ledger_id, d))
    except FileNotFoundError:
        return None
    moved = dict.fromkeys(TOPICS, 0)
    try:
        path = statement_path(settings.data_dir, ledger_id, d)
        rows = objstore.read_table(path, columns=["topic", "sum_amount"]).to_pylist()
    except FileNotFoundError:
        rows = []
    moved |= {r["topic"]: int(r["sum_amount"]) for r in rows if r["topic"] in moved}
    currency = info.currency or next(iter(c for c in lines["currency"].to_pylist() if c), None)
    return day_balance(lines, moved, chart), currency


def journal_problems(
    settings: PipelineSettings,
    ledger_id: str,
    scan: dict,
    known: Iterable[Problem],
    info: LedgerInfo,
    ui_url: str | None,
) -> dict[str, Problem]:
    """Ledger-days whose stored journal fails ``journal_balances`` (unbalanced, or a ledger
    account not moved as its statement says); read like the findings, from the journal files
    changed since the last pass (or whose statement changed), with marks of their own in
    ``scan["journal"]``. Entry types booked to suspense balance: a warning, never an alert."""
    try:
        chart = chart_for(settings)
    except SettingsError:  # the sync stops on it too, and says so: leave the journal as it was
        return {p.key: p for p in known if p.source.startswith(f"{JOURNAL}/{ledger_id}/")}

    def dated(inv: completeness.Inventory) -> Iterable[tuple[str, date, int]]:
        made = inv.files.get(STATEMENTS, {})
        booked = inv.files.get(JOURNAL, {})
        return ((JOURNAL, d, max(t, made.get(d, -1))) for d, t in booked.items())

    def read(_kind: str, d: date) -> list[Problem]:
        judged = _journal_day(settings, ledger_id, d, chart, info)
        if judged is None:
            return []
        p = journal_problem(ledger_id, d, *judged, info, ui_url)
        return [] if p is None else [p]

    marks = scan.setdefault(JOURNAL, {})
    return _incremental(settings, ledger_id, marks, known, JOURNAL_KINDS, dated, read)


def freshness_problems(
    settings: PipelineSettings,
    ledger_ids: Iterable[str],
    infos: Mapping[str, LedgerInfo],
    ui_url: str | None,
) -> dict[str, Problem]:
    """Ledgers turned ``stale`` or ``not_yours``; ``open`` and ``catching_up`` are quiet."""
    today = settings.today()
    out = {}
    for ledger_id in ledger_ids:
        plan = planner.plan_stored(
            settings.data_dir,
            ledger_id,
            start=settings.start_date,
            until=today - timedelta(days=1),
            window=settings.fee_window_days,
        )
        row = planner.freshness(
            plan,
            today=today,
            stale_days=settings.stale_days,
            persistent_404_days=settings.persistent_404_days,
        )
        p = freshness_problem(row, infos.get(ledger_id, LedgerInfo()), ui_url)
        if p is not None:
            out[p.key] = p
    return out


def payout_problems(
    settings: PipelineSettings,
    ledger_ids: Iterable[str],
    infos: Mapping[str, LedgerInfo],
    ui_url: str | None,
) -> dict[str, Problem]:
    """Payouts the bank matching (``bank/matches/payouts.parquet``) says are ``missing`` or
    ``amount_differs``; without imported statements there is nothing to say."""
    path = payout_matches_path(settings.data_dir)
    if not path.exists():
        return {}
    scope = set(ledger_ids)
    out = {}
    for row in objstore.read_table(path, schema=PAYOUT_MATCH_SCHEMA).to_pylist():
        if row["ledger_id"] not in scope:
            continue
        p = payout_problem(row, infos.get(row["ledger_id"], LedgerInfo()), ui_url)
        if p is not None:
            out[p.key] = p
    return out
