"""Problems in plain words: which ledger, which date, what was expected, what was found, what
to do, and where to look in the UI.

The findings already say what broke in an accountant's terms (their ``detail``); here each
check adds what its two numbers mean and what a person can do about it, so an alert reads
without opening the UI. Amounts are shown in the ledger's currency with
:func:`~vipps_pipeline.domain.minor_to_text`, never through a float.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from urllib.parse import quote

from vipps_pipeline.alerts.problems import Problem, RunOutcome
from vipps_pipeline.books.checks import REGISTRY
from vipps_pipeline.books.checks.terms import CHECK_TERMS, said
from vipps_pipeline.books.journal import DayCheck
from vipps_pipeline.domain import minor_to_text
from vipps_pipeline.sync.planner import Freshness

FEED_CHECK_KIND = "feed_checks"
"""The feed's comparison with the report: findings of its own folder, shown on its own asset."""

TODO_BY_GROUP = {
    "balance_continuity": "fetch the day again (`vipps-pipeline run --start {d} --end {d} "
    "--ledger {lid}`); if the check still fails, the report itself does not add up: send "
    "this message to Vipps MobilePay support and book the day only once they answer.",
    "payouts_and_invoices": "compare the payout or invoice with the bank statement of the "
    "ledger's payout account; if they differ, ask Vipps MobilePay support about ledger {lid}.",
    "funds_vs_fees": "look up the captures and fees of {d} (`vipps-pipeline query`); a fee "
    "that never came is charged late or not at all: ask Vipps MobilePay support if it stays.",
    "feed": "nothing to book from the feed for {d}: the report is the final word. Read the "
    "feed again (`vipps-pipeline feed`); if it stays, the provisional figures were wrong.",
}


@dataclass(frozen=True)
class LedgerInfo:
    """What an alert says about a ledger beyond its id (from ``ledgers.parquet``)."""

    currency: str | None = None
    sales_units: tuple[str, ...] = ()

    def label(self, ledger_id: str) -> str:
        names = ", ".join(self.sales_units)
        return f"ledger {ledger_id}" + (f" ({names})" if names else "")


def ui_link(ui_url: str | None, path: str, partition: str = "") -> str:
    """A page of the Dagster UI ("" without VIPPS_UI_URL)."""
    if not ui_url:
        return ""
    query = f"?view=partitions&partition={quote(partition, safe='')}" if partition else ""
    return f"{ui_url.rstrip('/')}/{path}{query}"


def check_problem(kind: str, row: dict, info: LedgerInfo, ui_url: str | None) -> Problem:
    """A failing finding of the reconciliation or of the feed's comparison."""
    lid, d, check, topic = row["ledger_id"], row["ledger_date"], row["check"], row["topic"]
    registered = REGISTRY.get(check)
    group = registered.group if registered else "feed"
    label = (registered.description if registered else "the feed equals the date's report").rstrip(
        "."
    )
    exp_label, found_label, money = CHECK_TERMS.get(check, ("", "", False))
    expected = said(row.get("expected"), money, info.currency)
    actual = said(row.get("actual"), money, info.currency)
    detail = str(row.get("detail") or "")
    asset = "feed_reconciliation" if kind == FEED_CHECK_KIND else "reconciliation"
    return Problem(
        key=f"check:{kind}:{lid}:{d}:{topic}:{check}",
        kind="check",
        title=f"check {check} failed ({topic})",
        ledger_id=lid,
        ledger=info.label(lid),
        when=f"ledger date {d}",
        expected=f"{label}" + (f" ({exp_label}: {expected})" if expected else ""),
        found=(f"{found_label}: {actual}; " if actual else "") + detail,
        todo=TODO_BY_GROUP[group].format(d=d, lid=lid),
        link=ui_link(ui_url, f"assets/{asset}", f"{d}|{lid}"),
        source=f"{kind}/{lid}/{d}",
    )


JOURNAL_TODO = (
    "book the day again (`vipps-pipeline run --start {d} --end {d} --ledger {lid}`); if it "
    "stays, the chart of accounts (VIPPS_JOURNAL_ACCOUNTS) maps an entry type wrongly, for "
    "example to a ledger's own account: correct it and book the day again. Post nothing of "
    "this day to the books until the check passes."
)


def journal_problem(
    lid: str, d: date, check: DayCheck, currency: str | None, info: LedgerInfo, ui_url: str | None
) -> Problem | None:
    """A ledger-day whose stored journal does not balance or does not tie to its statement;
    a balanced day that booked an entry type to suspense is a warning, never an alert."""
    if check.balanced:
        return None

    def money(minor: int) -> str:
        return f"{minor_to_text(minor, currency)} {currency or ''}".rstrip()

    debit, credit = check.totals
    expected, found = [], []
    if debit != credit:
        expected.append("debits equal to credits")
        found.append(f"debits {money(debit)}, credits {money(credit)}")
    for topic, account, net, moved in check.untied:
        expected.append(
            f"{topic} ledger account {account} to move {money(moved)} as its report did"
        )
        found.append(f"account {account} moved {money(net)}")
    return Problem(
        key=f"check:journal:{lid}:{d}:journal_balances",
        kind="check",
        title="check journal_balances failed",
        ledger_id=lid,
        ledger=info.label(lid),
        when=f"ledger date {d}",
        expected="the day's journal balances and ties to its reports: " + "; ".join(expected),
        found="; ".join(found),
        todo=JOURNAL_TODO.format(d=d, lid=lid),
        link=ui_link(ui_url, "assets/journal", f"{d}|{lid}"),
        source=f"journal/{lid}/{d}",
    )


def freshness_problem(row: Freshness, info: LedgerInfo, ui_url: str | None) -> Problem | None:
    """A ledger whose dates stopped closing (``stale``) or that the keys cannot read
    (``not_yours``); every other state is a normal quiet period and says nothing."""
    lid = row.ledger_id
    link = ui_link(ui_url, "assets/ledgers?view=checks")
    if row.status == "stale":
        return Problem(
            key=f"stale:{lid}",
            kind="stale",
            title=f"no new final ledger date for {row.days_behind} days",
            ledger_id=lid,
            ledger=info.label(lid),
            when=f"final through {row.final_through or '-'}",
            expected="dates to close within the ledger's settlement period",
            found=row.detail,
            todo="check the ledger in the Vipps MobilePay portal: a payout held for weeks (a "
            "negative balance not topped up) or a stopped agreement keeps dates open; if "
            "sales go on as usual, ask Vipps MobilePay support why the date does not close.",
            link=link,
        )
    if row.status == "not_yours":
        return Problem(
            key=f"not_yours:{lid}",
            kind="not_yours",
            title="these API keys may not be able to read the ledger",
            ledger_id=lid,
            ledger=info.label(lid),
            when=f"final through {row.final_through or '-'}",
            expected="the closed date's report",
            found=row.detail,
            todo="ask the merchant to grant your keys access to this ledger in the Vipps "
            "MobilePay portal (partner keys), or check that it belongs to this merchant.",
            link=link,
        )
    return None


def payout_problem(row: dict, info: LedgerInfo, ui_url: str | None) -> Problem | None:
    """A payout due in the bank and not there (``missing``), or there with another amount
    (``amount_differs``); ``in_transit``, ``not_covered``, ``matched`` and ``aborted`` are
    quiet."""
    status, lid, ref = row["status"], row["ledger_id"], row["psp_reference"]
    if status not in ("missing", "amount_differs"):
        return None
    currency = row["currency"]
    paid = f"{minor_to_text(int(row['amount']), currency)} {currency}"
    if status == "missing":
        found = f"no bank line with that amount or settlement number by {row['due_date']}"
        todo = (
            "look for the payout on the bank account (it may carry no text); if it is not "
            "there, ask Vipps MobilePay support about settlement " + ref
        )
    else:
        bank = f"{minor_to_text(int(row['bank_amount'] or 0), currency)} {currency}"
        found = f"{bank} booked {row['bank_booking_date']}: {row['bank_text'] or ''}".strip()
        todo = "compare the settlement report with the bank line; ask support if they differ"
    return Problem(
        key=f"payout:{lid}:{ref}",
        kind="payout",
        title=f"payout {ref} {'did not arrive' if status == 'missing' else 'arrived short'}",
        ledger_id=lid,
        ledger=info.label(lid),
        when=f"ledger date {row['ledger_date']}",
        expected=f"{paid} in the bank by {row['due_date']}",
        found=found,
        todo=todo,
        link=ui_link(ui_url, "assets/payout_matches"),
        source=f"bank/{lid}/{ref}",
    )


AUTH_SIGNS = ("authentication failed", "token request was rejected")
"""How a run's error says the keys were rejected: the sync engine and the feed job stop with
"authentication failed", a token refusal anywhere (the ledger list too) says the second. The
run's error reaches the drivers only as text, so the words are matched here."""


def run_problem(outcome: RunOutcome, ui_url: str | None) -> Problem | None:
    """A failed run: rejected credentials are their own problem (nothing works until someone
    fixes them), any other failure is an outage of that job."""
    if outcome.ok:
        return None
    link = ui_link(ui_url, f"runs/{outcome.run_id}") if outcome.run_id else ""
    if any(sign in outcome.error for sign in AUTH_SIGNS):
        return Problem(
            key="credentials",
            kind="credentials",
            title="the Report API rejected the API keys",
            expected="an access token for the configured keys",
            found=outcome.error,
            todo="check VIPPS_CLIENT_ID, VIPPS_CLIENT_SECRET, VIPPS_SUBSCRIPTION_KEY (merchant "
            "keys) and VIPPS_KEY_TYPE; create new keys in the portal if they were revoked. "
            "Nothing is fetched until they work.",
            link=link,
        )
    return Problem(
        key=f"run:{outcome.job}",
        kind="run",
        title=f"the {outcome.job} run failed",
        expected="the run to finish without errors",
        found=outcome.error or "(no error text)",
        todo="nothing, if the Report API is down: the next run retries by itself and a "
        "resolved message follows. If it keeps failing, open the run for its errors.",
        link=link,
    )
