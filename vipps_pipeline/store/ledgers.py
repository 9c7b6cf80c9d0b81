"""The ledger list as a Parquet file that never forgets a ledger.

A ledger that disappears from the API's list keeps its row (``listed = false``) and its stored
history; payout accounts are masked to their last four digits before anything is written.
"""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path

import pyarrow as pa

from vipps_pipeline.api.client import ReportClient
from vipps_pipeline.api.errors import ApiError
from vipps_pipeline.settings import SettingsError, validate_ledger_id
from vipps_pipeline.store.atomic import write_table
from vipps_pipeline.store.objstore import DataDir, is_remote, read_table
from vipps_pipeline.store.paths import ledgers_path, statement_path
from vipps_pipeline.store.schemas import LEDGER_SCHEMA


def mask_account(account: object) -> str | None:
    if not isinstance(account, str) or not account:
        return None
    return "*" * max(0, len(account) - 4) + account[-4:]


@dataclass
class LedgersResult:
    ledger_ids: list[str]
    path: Path
    table: pa.Table


def _text(value: object) -> str | None:
    return value if isinstance(value, str) else None


def _units_by_handle(units: object) -> dict[str, list[str]]:
    """Sales-unit names by recipient handle, from any published shape: a list of units each
    with ``recipientHandle`` as a list (the reference) or as one string (the newest guide)."""
    out: dict[str, list[str]] = {}
    for unit in units if isinstance(units, list) else []:
        if not isinstance(unit, dict) or not isinstance(unit.get("name"), str):
            continue
        handles = unit.get("recipientHandle")
        if isinstance(handles, str):
            handles = [handles]
        for handle in handles if isinstance(handles, list) else []:
            if isinstance(handle, str):
                out.setdefault(handle, []).append(unit["name"])
    return out


def write_ledgers(
    client: ReportClient, data_dir: Path, now: datetime | None = None
) -> LedgersResult:
    """List the ledgers, validate every id, and merge them into ``<data>/ledgers.parquet``."""
    now = now or datetime.now(UTC)
    listing = client.list_ledgers()
    units = _units_by_handle(listing.sales_units)
    rows: dict[str, dict] = {}
    for raw in listing.ledgers:
        if not isinstance(raw, dict):
            raise ApiError(f"list ledgers: an entry is not an object: {raw!r}")
        try:
            ledger_id = validate_ledger_id(raw.get("ledgerId"), "the ledger list has ledger id")
        except SettingsError as exc:
            raise ApiError(f"{exc}; nothing was stored") from None
        handles = [h for h in raw.get("settlesForRecipientHandles") or [] if isinstance(h, str)]
        owner = raw.get("owner") if isinstance(raw.get("owner"), dict) else {}
        account = (
            raw.get("payoutBankAccount") if isinstance(raw.get("payoutBankAccount"), dict) else {}
        )
        own = _units_by_handle(raw.get("salesUnits"))
        names = {n for h in handles for n in units.get(h, [])}
        names |= {n for found in own.values() for n in found}  # a ledger's own units are its own
        rows[ledger_id] = {
            "ledger_id": ledger_id,
            "currency": _text(raw.get("currency")),
            "settles_for_recipient_handles": handles,
            "owner_id": _text(owner.get("id")),
            "owner_scheme": _text(owner.get("scheme")),
            "payout_account_scheme": _text(account.get("scheme")),
            "payout_account_masked": mask_account(account.get("id")),
            "sales_units": sorted(names),
            "listed": True,
            "first_seen": now,
            "last_seen": now,
        }
    path = ledgers_path(data_dir)
    if path.exists():
        for old in read_table(path, schema=LEDGER_SCHEMA).to_pylist():
            if old["ledger_id"] in rows:
                rows[old["ledger_id"]]["first_seen"] = old["first_seen"]
            else:
                rows[old["ledger_id"]] = {**old, "listed": False}
    table = pa.Table.from_pylist([rows[k] for k in sorted(rows)], schema=LEDGER_SCHEMA)
    write_table(path, table)
    from vipps_pipeline.lake.commit import commit_ledgers  # the lake reads the store: late

    commit_ledgers(data_dir, table)
    listed = sorted(k for k, r in rows.items() if r["listed"])
    return LedgersResult(listed, path, table)


def ledger_currency(data_dir: DataDir, ledger_id: str, ledger_date: date) -> str | None:
    """The ledger's currency from the ledger list, else from that day's statement (a ledger
    fetched before the list was stored); None when neither is there."""
    known = ledger_currencies(data_dir).get(ledger_id)
    if known:
        return known
    try:
        table = read_table(statement_path(data_dir, ledger_id, ledger_date), columns=["currency"])
    except (FileNotFoundError, OSError):
        return None
    return next((c for c in table.column("currency").to_pylist() if c), None)


def ledger_currencies(data_dir: DataDir) -> dict[str, str]:
    """Each registered ledger's currency (empty before the list is stored): what the UI needs
    to show a finding's amounts with the currency's digits. Read once per version of the file."""
    path = ledgers_path(data_dir)
    try:
        stamp = None if is_remote(path) else os.stat(path).st_mtime_ns
        return dict(_currencies(path, stamp) if stamp is not None else _read_currencies(path))
    except FileNotFoundError:
        return {}


@functools.lru_cache(maxsize=8)
def _currencies(path: DataDir, stamp: int) -> tuple[tuple[str, str], ...]:
    return _read_currencies(path)


def _read_currencies(path: DataDir) -> tuple[tuple[str, str], ...]:
    table = read_table(path, schema=LEDGER_SCHEMA, columns=["ledger_id", "currency"])
    return tuple((r["ledger_id"], r["currency"]) for r in table.to_pylist() if r["currency"])
