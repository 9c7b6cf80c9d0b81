"""The simulated ledgers' static definitions: who they belong to and how they settle.

A data table (exempt from the module-length rule): one ``LedgerSpec`` per ledger, chosen so
that together they cover every settlement shape the vendor documents (net and gross fees,
daily, weekly and monthly payouts, cutoffs, reserves, negative balances, quiet weekdays).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date, datetime

DEMO_CREDENTIALS = {
    "merchant": {
        "client_id": "demo-merchant-client",
        "client_secret": "demo-merchant-secret",
        "subscription_key": "demo-subscription-key",
        "merchant_serial_number": "123456",
    },
    "partner": {"client_id": "demo-partner-client", "client_secret": "demo-partner-secret"},
}


@dataclass(frozen=True)
class LedgerSpec:
    ledger_id: str
    currency: str
    timezone: str
    recipient_handles: tuple[str, ...]
    sales_unit: str
    owner: tuple[str, str]  # (id, scheme)
    bank_account: tuple[str, str]  # (scheme, id)
    settlement: str  # "net": fees retained from funds daily; "gross": fees invoiced monthly
    payout: str  # "daily" or "monthly"
    payout_type: str  # "payout-scheduled" or the older "scheduled-for-payout"
    cutoff_hour: int  # ledger dates run cutoff-to-cutoff local time (0 = midnight)
    captures: tuple[int, int]
    amounts: tuple[int, int]
    fee_bp: int
    fee_fixed: int
    start: date
    reserve: int = 0
    """Rolling reserve: a payout leaves this much on the ledger (the FAQ's held-back money)."""
    quiet_weekdays: tuple[int, ...] = ()
    """Weekdays (0 = Monday) without sales: closed ledger dates with an empty report."""
    negative: tuple[int, int, int] | None = None
    """(offset, period, length) in days from ``start``: episodes where a huge refund drives the
    balance negative; no payout while it lasts, the dates stay open, and a ``top-up`` on the
    episode's last day clears it."""
    extras: frozenset[str] = frozenset()
    """Occasional entry types: disputes, payout-aborted, service-fee, credit-note."""
    payout_text: str = ""
    """The bank-transfer text of a payout (``{n}`` is the payout number); empty where the
    vendor leaves it missing (Norway today)."""
    listed_from: datetime | None = None
    """Before this (simulated) time the keys cannot see the ledger: it is not in the list, and
    its reports answer 404 "No such ledgerId"."""


LEDGERS: tuple[LedgerSpec, ...] = (
    LedgerSpec(
        "100001",
        "NOK",
        "Europe/Oslo",
        ("NO:123455",),
        "ACME Fitness",
        ("987654321", "business:NO:ORG"),
        ("BBAN:NO", "86011117947"),
        "net",
        "daily",
        "payout-scheduled",
        0,
        (15, 40),
        (5_000, 250_000),
        175,
        100,
        date(2020, 5, 1),
        extras=frozenset({"disputes", "payout-aborted"}),
        payout_text="Vipps utbet. {n} Vippsnr 55001",
    ),
    LedgerSpec(
        "100002",
        "DKK",
        "Europe/Copenhagen",
        ("DK:555001", "api:555002"),
        "Hygge Bageri",
        ("31234567", "business:DK:CVR"),
        ("BBAN:DK", "30004000123456"),
        "net",
        "daily",
        "scheduled-for-payout",
        4,
        (10, 30),
        (2_000, 150_000),
        145,
        100,
        date(2021, 3, 1),
        payout_text="MobilePay {n}",
    ),
    LedgerSpec(
        "100003",
        "EUR",
        "Europe/Helsinki",
        ("FI:777001",),
        "Sauna Oy",
        ("1234567-8", "business:FI:Y-tunnus"),
        ("IBAN:FI", "FI2112345600000785"),
        "gross",
        "daily",
        "payout-scheduled",
        0,
        (8, 25),
        (1_000, 80_000),
        120,
        35,
        date(2022, 6, 1),
        quiet_weekdays=(6,),
        extras=frozenset({"service-fee", "credit-note"}),
        payout_text="MobilePay {n} Sauna Oy",
    ),
    LedgerSpec(
        "100004",
        "NOK",
        "Europe/Oslo",
        ("api:888001",),
        "Fjord Cars",
        ("923456789", "business:NO:ORG"),
        ("BBAN:NO", "15030012345"),
        "net",
        "monthly",
        "payout-scheduled",
        0,
        (5, 15),
        (5_000_000, 50_000_000),
        90,
        0,
        date(2023, 1, 1),
    ),
    LedgerSpec(
        "100005",
        "NOK",
        "Europe/Oslo",
        ("api:888005",),
        "Fly Fjell",
        ("934567890", "business:NO:ORG"),
        ("BBAN:NO", "15030054321"),
        "net",
        "daily",
        "payout-scheduled",
        0,
        (15, 30),
        (50_000, 500_000),
        150,
        100,
        date(2024, 1, 1),
        reserve=250_000,
        extras=frozenset({"service-fee"}),
    ),
    LedgerSpec(
        "100006",
        "NOK",
        "Europe/Oslo",
        ("api:888006",),
        "Konsert Arena",
        ("945678901", "business:NO:ORG"),
        ("BBAN:NO", "15030099887"),
        "net",
        "daily",
        "payout-scheduled",
        0,
        (10, 25),
        (20_000, 150_000),
        175,
        100,
        date(2024, 8, 2),
        negative=(30, 365, 61),
    ),
    LedgerSpec(
        "100007",
        "DKK",
        "Europe/Copenhagen",
        ("DK:555007",),
        "Ugens Kaffe",
        ("32345678", "business:DK:CVR"),
        ("BBAN:DK", "30004000654321"),
        "net",
        "weekly",
        "payout-scheduled",
        0,
        (8, 20),
        (2_000, 80_000),
        145,
        100,
        date(2023, 6, 5),
        quiet_weekdays=(5,),
        payout_text="MobilePay {n} Ugens Kaffe",
    ),
)


def cloned_ledgers(n: int, first_id: int = 200001) -> tuple[LedgerSpec, ...]:
    """``n`` daily-settling NOK ledgers modelled on 100001: for load and scale tests."""
    return tuple(replace(LEDGERS[0], ledger_id=str(first_id + i)) for i in range(n))
