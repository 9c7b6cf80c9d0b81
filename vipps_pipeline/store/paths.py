"""Every path of the data layout, built in one place.

::

    <data>/ledgers.parquet                                   the ledger list
    <data>/reports/<topic>/<ledger>/<yyyy>/<date>.parquet    final report entries
    <data>/statements/<ledger>/<yyyy>/<date>.parquet         daily statements
    <data>/reconciliation/<ledger>/<yyyy>/<date>.parquet     findings of the checks
    <data>/journal/<ledger>/<yyyy>/<date>.parquet            journal lines
    <data>/journal-csv/<ledger>/<yyyy>/<date>.csv            the same lines for a spreadsheet
    <data>/feed/<topic>/<ledger>/<yyyy>/<date>.parquet       provisional entries from the feed
    <data>/feed_checks/<ledger>/<yyyy>/<date>.parquet        feed compared with the report
    <data>/today/<ledger>.parquet                            the "today so far" view
    <data>/state/<ledger>.json                               facts no data file holds
    <data>/state/.<ledger>.lock                              the ledger's lock
    <data>/state/verified/<ledger>.json                      footers already read
    <data>/state/feed/<ledger>/<topic>.json                  the feed's commit record
    <data>/state/feed/<ledger>/schedule.json                 the feed's polling interval
    <data>/state/feed/<ledger>/.lock                         the feed's lock
    <data>/bank/lines.parquet                                imported bank statement lines
    <data>/bank/inbox/                                       statements dropped for import
    <data>/bank/matches/payouts.parquet                      every payout and its arrival
    <data>/bank/matches/lines.parquet                        every bank line and its status
    <data>/bank/journal/<ledger>.parquet                     payouts posted to the bank
    <data>/alerts/sent.json                                  the alerts already sent

A per-day dataset is named by its *kind*, its folder under the data directory (``reports/funds``,
``statements``...): the inventory, the readers and the writers all key on it. Folders are plain
names, never ``key=value``, so DuckDB's hive auto-detection adds no surprise columns. Every
ledger id is validated before it becomes part of a path, so no id can climb out of its folder.
"""

from __future__ import annotations

from datetime import date

from vipps_pipeline.settings import TOPICS, validate_ledger_id
from vipps_pipeline.store.objstore import DataDir, as_dir

REPORTS = "reports"
STATEMENTS = "statements"
RECONCILIATION = "reconciliation"
JOURNAL = "journal"
JOURNAL_CSV = "journal-csv"
FEED = "feed"
CHECKS_KIND = "feed_checks"
TODAY = "today"
STATE = "state"
ALERTS = "alerts"


def _check_topic(topic: str) -> str:
    if topic not in TOPICS:
        raise ValueError(f"topic must be one of {TOPICS}, got {topic!r}")
    return topic


def report_kind(topic: str) -> str:
    """The kind of a topic's report dataset, as the inventory and :func:`day_path` name it."""
    return f"{REPORTS}/{_check_topic(topic)}"


REPORT_KINDS = tuple(report_kind(t) for t in TOPICS)
"""The report datasets, one per topic (``reports/funds``, ``reports/fees``)."""

FEED_KINDS = tuple(f"{FEED}/{t}" for t in TOPICS)
"""The feed's provisional datasets, one per topic."""

DAY_KINDS = (*REPORT_KINDS, STATEMENTS, RECONCILIATION, JOURNAL)
"""Every per-ledger-day dataset the sync writes, as folder names under the data directory."""


def _day_path(root: DataDir, kind: str, ledger_id: str, ledger_date: date) -> DataDir:
    validate_ledger_id(ledger_id)
    return root / kind / ledger_id / f"{ledger_date:%Y}" / f"{ledger_date.isoformat()}.parquet"


def ledger_folder(data_dir: DataDir, kind: str, ledger_id: str) -> DataDir:
    """One ledger's folder in a per-day dataset: a folder per year, a file per date in each."""
    return as_dir(data_dir) / kind / validate_ledger_id(ledger_id)


def day_path(data_dir: DataDir, kind: str, ledger_id: str, ledger_date: date) -> DataDir:
    """The file of one ledger-day; ``kind`` is one of :data:`DAY_KINDS`."""
    if kind not in DAY_KINDS:
        raise ValueError(f"kind must be one of {DAY_KINDS}, got {kind!r}")
    return _day_path(as_dir(data_dir), kind, ledger_id, ledger_date)


def kind_path(data_dir: DataDir, kind: str, ledger_id: str, ledger_date: date) -> DataDir:
    """The file of one ledger-day in any per-day dataset, :data:`DAY_KINDS` or the feed's;
    for readers that take the kind from an inventory rather than from a fixed list."""
    return _day_path(as_dir(data_dir), kind, ledger_id, ledger_date)


def report_path(data_dir: DataDir, topic: str, ledger_id: str, ledger_date: date) -> DataDir:
    """``<data>/reports/<topic>/<ledger>/<yyyy>/<date>.parquet``."""
    return _day_path(as_dir(data_dir) / REPORTS, _check_topic(topic), ledger_id, ledger_date)


def statement_path(data_dir: DataDir, ledger_id: str, ledger_date: date) -> DataDir:
    return _day_path(as_dir(data_dir), STATEMENTS, ledger_id, ledger_date)


def findings_path(data_dir: DataDir, ledger_id: str, ledger_date: date) -> DataDir:
    return _day_path(as_dir(data_dir), RECONCILIATION, ledger_id, ledger_date)


def journal_path(data_dir: DataDir, ledger_id: str, ledger_date: date) -> DataDir:
    return _day_path(as_dir(data_dir), JOURNAL, ledger_id, ledger_date)


def journal_csv_path(data_dir: DataDir, ledger_id: str, ledger_date: date) -> DataDir:
    """A folder apart from the Parquet files, so the ``journal`` folder stays one dataset."""
    return _day_path(as_dir(data_dir), JOURNAL_CSV, ledger_id, ledger_date).with_suffix(".csv")


def ledgers_path(data_dir: DataDir) -> DataDir:
    return as_dir(data_dir) / "ledgers.parquet"


def feed_path(data_dir: DataDir, topic: str, ledger_id: str, ledger_date: date) -> DataDir:
    """``<data>/feed/<topic>/<ledger>/<yyyy>/<date>.parquet``: laid out like the reports, so
    the feed's files and the report's of one date compare side by side."""
    return _day_path(as_dir(data_dir) / FEED, _check_topic(topic), ledger_id, ledger_date)


def checks_path(data_dir: DataDir, ledger_id: str, ledger_date: date) -> DataDir:
    return _day_path(as_dir(data_dir), CHECKS_KIND, ledger_id, ledger_date)


def today_path(data_dir: DataDir, ledger_id: str) -> DataDir:
    """One file per ledger, not per date: it holds only the dates still open."""
    return as_dir(data_dir) / TODAY / f"{validate_ledger_id(ledger_id)}.parquet"


def state_path(data_dir: DataDir, ledger_id: str) -> DataDir:
    return as_dir(data_dir) / STATE / f"{validate_ledger_id(ledger_id)}.json"


def ledger_lock_path(data_dir: DataDir, ledger_id: str) -> DataDir:
    """Hidden, so no listing of the state folder mistakes it for a ledger's state."""
    return as_dir(data_dir) / STATE / f".{validate_ledger_id(ledger_id)}.lock"


def verified_path(data_dir: DataDir, ledger_id: str) -> DataDir:
    """A file of its own, never the ledger's state: it is a cache written without the lock."""
    return as_dir(data_dir) / STATE / "verified" / f"{validate_ledger_id(ledger_id)}.json"


def feed_state_dir(data_dir: DataDir, ledger_id: str) -> DataDir:
    """The feed's state of one ledger: its commit records, polling schedule and lock."""
    return as_dir(data_dir) / STATE / FEED / validate_ledger_id(ledger_id)


def feed_record_path(data_dir: DataDir, ledger_id: str, topic: str) -> DataDir:
    return feed_state_dir(data_dir, ledger_id) / f"{topic}.json"


def feed_schedule_path(data_dir: DataDir, ledger_id: str) -> DataDir:
    return feed_state_dir(data_dir, ledger_id) / "schedule.json"


def feed_lock_path(data_dir: DataDir, ledger_id: str) -> DataDir:
    return feed_state_dir(data_dir, ledger_id) / ".lock"


BANK = "bank"


def bank_dir(data_dir: DataDir) -> DataDir:
    """The bank statements' folder: lines imported, the inbox, and what matching decided."""
    return as_dir(data_dir) / BANK


def bank_lines_path(data_dir: DataDir) -> DataDir:
    return bank_dir(data_dir) / "lines.parquet"


def bank_inbox(data_dir: DataDir) -> DataDir:
    return bank_dir(data_dir) / "inbox"


def bank_lock_path(data_dir: DataDir) -> DataDir:
    return bank_dir(data_dir) / ".lock"


def payout_matches_path(data_dir: DataDir) -> DataDir:
    return bank_dir(data_dir) / "matches" / "payouts.parquet"


def bank_line_status_path(data_dir: DataDir) -> DataDir:
    return bank_dir(data_dir) / "matches" / "lines.parquet"


def bank_journal_path(data_dir: DataDir, ledger_id: str) -> DataDir:
    """One file per ledger: its payouts posted from in transit to the bank account."""
    return bank_dir(data_dir) / "journal" / f"{validate_ledger_id(ledger_id)}.parquet"


def alerts_sent_path(data_dir: DataDir) -> DataDir:
    """One file for every ledger: what the alerts already said, shared by all their drivers."""
    return as_dir(data_dir) / ALERTS / "sent.json"


def alerts_lock_path(data_dir: DataDir) -> DataDir:
    return as_dir(data_dir) / ALERTS / ".lock"
