"""What is wrong now, read from what is stored: failing findings, ledger freshness, runs.

Findings are read incrementally: a ledger whose findings folders did not change since the last
pass (the same :func:`~vipps_pipeline.sync.completeness.fingerprint`) is not even listed, and of
a changed one only the files written since the last pass are read. So a pass over a thousand
ledgers with years of days costs a few ``stat`` calls per ledger, and the problems of files not
read again are the ones the sent-record already holds.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from datetime import date, timedelta

from vipps_pipeline.alerts.problems import Problem
from vipps_pipeline.alerts.wording import (
    FEED_CHECK_KIND,
    LedgerInfo,
    check_problem,
    freshness_problem,
    payout_problem,
)
from vipps_pipeline.domain import Status
from vipps_pipeline.settings import PipelineSettings
from vipps_pipeline.store import objstore
from vipps_pipeline.store.paths import (
    RECONCILIATION,
    kind_path,
    ledgers_path,
    payout_matches_path,
)
from vipps_pipeline.store.schemas import LEDGER_SCHEMA, PAYOUT_MATCH_SCHEMA
from vipps_pipeline.sync import completeness, planner

FINDING_KINDS = (RECONCILIATION, FEED_CHECK_KIND)
"""The folders whose ``fail`` findings are problems: the reconciliation and the feed's."""

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


def _stamp(settings: PipelineSettings, ledger_id: str) -> str | None:
    found = completeness.fingerprint(settings.data_dir, ledger_id, FINDING_KINDS)
    return None if found is None else hashlib.sha1(repr(found).encode()).hexdigest()


def _failing(settings: PipelineSettings, kind: str, ledger_id: str, d: date) -> list[dict]:
    path = kind_path(settings.data_dir, kind, ledger_id, d)
    try:
        rows = objstore.read_table(path, columns=[*READ_COLUMNS, "detail"]).to_pylist()
    except FileNotFoundError:
        return []
    return [r for r in rows if r["status"] == Status.FAIL]


def finding_problems(
    settings: PipelineSettings,
    ledger_id: str,
    scan: dict,
    known: Iterable[Problem],
    info: LedgerInfo,
    ui_url: str | None,
) -> dict[str, Problem]:
    """The ledger's failing findings now. ``scan`` is this ledger's record of the last pass
    (``stamp`` and ``mark``, the newest modification time read), updated here; ``known``
    are the problems the last pass left open, kept for every file not read again."""
    stamp = _stamp(settings, ledger_id)
    mine = {p.key: p for p in known if p.kind == "check" and p.ledger_id == ledger_id}
    if stamp is not None and stamp == scan.get("stamp"):
        return mine
    inv = completeness.scan(settings.data_dir, ledger_id, kinds=FINDING_KINDS)
    mark = int(scan.get("mark", -1))
    stored = {f"{k}/{ledger_id}/{d}" for k in FINDING_KINDS for d in inv.dates(k)}
    newest, reread, fresh = mark, set(), {}
    for kind in FINDING_KINDS:
        for d, mtime in inv.files.get(kind, {}).items():
            # a file written in the same tick as the last pass's newest is read again
            if mtime < mark - completeness.RACY_NS:
                continue
            newest = max(newest, mtime)
            reread.add(f"{kind}/{ledger_id}/{d}")
            for row in _failing(settings, kind, ledger_id, d):
                p = check_problem(kind, row, info, ui_url)
                fresh[p.key] = p
    kept = {k: p for k, p in mine.items() if p.source in stored and p.source not in reread}
    scan.update(stamp=stamp, mark=newest)
    return kept | fresh


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
