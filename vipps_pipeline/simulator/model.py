"""Deterministic synthetic settlement ledgers that obey every invariant accountants check.

Every ledger-day is a pure function of (seed, ledger, date, injected data breaks), so a test can
ask the model for the ground truth of any day and compare it with what the pipeline stored.
Balances chain across days without replaying history: each ledger has "zeroing" days (a daily
payout, a month-end payout or fee invoice) after which the next day opens at 0, so at most a
month has to be generated to know an opening balance.
"""

from __future__ import annotations

import random
import threading
from bisect import bisect_right
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, ClassVar
from zoneinfo import ZoneInfo

from vipps_pipeline.simulator.faults import Faults

DEMO_CREDENTIALS = {
    "merchant": {
        "client_id": "demo-merchant-client",
        "client_secret": "demo-merchant-secret",
        "subscription_key": "demo-subscription-key",
        "merchant_serial_number": "123456",
    },
    "partner": {"client_id": "demo-partner-client", "client_secret": "demo-partner-secret"},
}
JUMP = 7_700
"""Size of an injected balance jump, in minor units."""
UNKNOWN_ENTRY_TYPE = "interest-adjustment"
"""A type the vendor might add without notice: the pipeline must keep it, never reject it."""
NEGATIVE_EPISODE_REFUND = 250_000_000
"""A cancelled event refunded at once (2.5 million NOK): the balance stays negative for weeks."""
_PERIOD = 97
"""Large days repeat a 97-entry amount pattern so any page's balances are closed-form."""


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


def month_end(d: date) -> date:
    nxt = date(d.year + (d.month == 12), d.month % 12 + 1, 1)
    return nxt - timedelta(days=1)


def _fmt_time(t: datetime, tz: ZoneInfo | None = None) -> str:
    """UTC with a Z, or (with tz) local time and a +HHMM offset, as the API sometimes sends."""
    if tz is None:
        return t.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return t.astimezone(tz).strftime("%Y-%m-%dT%H:%M:%S.%f%z")


@dataclass
class _Move:
    """A balance-moving entry before the day-end rows; balances are assigned later."""

    t: datetime
    entry_type: str
    amount: int
    psp: str
    reference: str
    handle: str | None
    name: str | None = None
    phone: str | None = None
    message: str | None = None
    local_format: bool = False


@dataclass
class _Fee:
    capture_psp: str
    capture_date: date
    landing: date
    amount: int
    t: datetime
    reference: str
    handle: str | None


class Day:
    """A generated ledger-day: entries in report order with their times for visibility."""

    def __init__(self, entries: list[dict[str, Any]], times: list[float]) -> None:
        self.entries = entries
        self.times = times

    def __len__(self) -> int:
        return len(self.entries)

    def page(self, start: int, stop: int) -> list[dict[str, Any]]:
        return self.entries[start:stop]

    def visible_count(self, now: datetime) -> int:
        return bisect_right(self.times, now.timestamp())

    @property
    def closing(self) -> int | None:
        return self.entries[-1]["balanceAfter"] if self.entries else None


class LargeDay(Day):
    """A huge day generated page by page: memory stays flat whatever the size."""

    def __init__(self, spec: LedgerSpec, d: date, topic: str, n: int, seed: int, window) -> None:
        rng = random.Random(f"{seed}:{spec.ledger_id}:{d}:large")
        self.spec, self.d, self.topic, self.n = spec, d, topic, n
        self.start, self.end = window
        self.amounts = [rng.randint(*spec.amounts) for _ in range(_PERIOD)]
        self.fees = [-(a * spec.fee_bp // 10_000 + spec.fee_fixed) for a in self.amounts]
        self.pattern = self.amounts if topic == "funds" else self.fees
        self.prefix = [0]
        for a in self.pattern:
            self.prefix.append(self.prefix[-1] + a)
        total_fees = self._sum(self.fees, n)
        self.tail: list[tuple[str, int]] = []
        if topic == "funds":
            moved = self._sum(self.amounts, n)
            if spec.settlement == "net" and total_fees:
                self.tail.append(("fees-retained", total_fees))
                moved += total_fees
            self.tail.append((spec.payout_type, -moved))
        elif spec.settlement == "net" and total_fees:
            self.tail.append(("fees-retained", -total_fees))
        self.step = (self.end - self.start).total_seconds() / (n + 1)
        self.entries = []  # never materialised
        self.times = []

    def _sum(self, pattern: list[int], k: int) -> int:
        full, rest = divmod(k, _PERIOD)
        return full * sum(pattern) + sum(pattern[:rest])

    def balance_at(self, i: int) -> int:
        full, rest = divmod(i, _PERIOD)
        return full * self.prefix[_PERIOD] + self.prefix[rest]

    def __len__(self) -> int:
        return self.n + len(self.tail)

    def visible_count(self, now: datetime) -> int:
        if now >= self.end:
            return len(self)
        if now < self.start:
            return 0
        return min(self.n, int((now - self.start).total_seconds() / self.step))

    @property
    def closing(self) -> int | None:
        return 0

    def page(self, start: int, stop: int) -> list[dict[str, Any]]:
        out = []
        ledger_date = self.d.isoformat()
        base = f"9{self.spec.ledger_id}{self.d:%Y%m%d}"
        for i in range(start, min(stop, len(self))):
            if i < self.n:
                amount = self.pattern[i % _PERIOD]
                before = self.balance_at(i)
                t = self.start + timedelta(seconds=self.step * (i + 1))
                entry_type = "capture" if self.topic == "funds" else "capture-fee"
                psp, ref = f"{base}{i:07d}", f"bulk-{self.d:%Y%m%d}-{i}"
            else:
                entry_type, amount = self.tail[i - self.n]
                before = self.balance_at(self.n) + sum(a for _, a in self.tail[: i - self.n])
                t, psp, ref = self.end, f"{base}T{i - self.n}", ""
            out.append(
                {
                    "pspReference": psp,
                    "time": _fmt_time(t),
                    "ledgerDate": ledger_date,
                    "entryType": entry_type,
                    "reference": ref,
                    "currency": self.spec.currency,
                    "amount": amount,
                    "balanceBefore": before,
                    "balanceAfter": before + amount,
                    "recipientHandle": self.spec.recipient_handles[0],
                }
            )
        return out


class NoSuchLedger(LookupError):
    """The keys cannot see this ledger: the API answers 404 "No such ledgerId"."""


class World:
    """All simulated ledgers, their days, and the clock-dependent view the API serves."""

    shared_history: ClassVar[OrderedDict[tuple, Day] | None] = None
    """Days shared by every World when set (the test suite sets it once per process): a day is
    a pure function of the seed, the ledger's spec, the large days and the data breaks, so a
    suite that builds hundreds of worlds over the same history builds each day once."""
    _shared_lock: ClassVar[threading.RLock] = threading.RLock()

    def __init__(
        self,
        seed: int = 0,
        ledgers: Sequence[LedgerSpec] = LEDGERS,
        faults: Faults | None = None,
        large_days: dict[tuple[str, date], int] | None = None,
        close_lag: timedelta = timedelta(hours=1),
    ) -> None:
        self.seed = seed
        self.ledgers = {s.ledger_id: s for s in ledgers}
        self.faults = faults or Faults()
        self.large_days = dict(large_days or {})
        self.close_lag = close_lag
        self._cache: OrderedDict[tuple, Day] = OrderedDict()
        self._lock = threading.RLock()

    # --- calendar ------------------------------------------------------------------------------
    def window(self, spec: LedgerSpec, d: date) -> tuple[datetime, datetime]:
        tz = ZoneInfo(spec.timezone)
        start = datetime.combine(d, time(spec.cutoff_hour), tz)
        end = datetime.combine(d + timedelta(days=1), time(spec.cutoff_hour), tz)
        return start.astimezone(UTC), end.astimezone(UTC)

    def episode(self, spec: LedgerSpec, d: date) -> tuple[date, date] | None:
        """The negative-balance episode ``d`` falls in, as (first, last day), or None."""
        if spec.negative is None or d < spec.start:
            return None
        offset, period, length = spec.negative
        k = ((d - spec.start).days - offset) // period
        first = spec.start + timedelta(days=offset + k * period)
        last = first + timedelta(days=length - 1)
        return (first, last) if k >= 0 and first <= d <= last else None

    def period_end(self, spec: LedgerSpec, d: date) -> date:
        """The last date of the settlement period ``d`` belongs to: the dates of a period
        close together, when its payout is made (a negative-balance episode closes when the
        top-up clears it)."""
        episode = self.episode(spec, d)
        if episode is not None:
            return episode[1]
        if spec.payout == "monthly":
            return month_end(d)
        if spec.payout == "weekly":
            return d + timedelta(days=6 - d.weekday())
        return d

    def pays_out(self, spec: LedgerSpec, d: date) -> bool:
        return self.period_end(spec, d) == d and self.episode(spec, d) is None

    def closes_at(self, spec: LedgerSpec, d: date) -> datetime:
        return self.window(spec, self.period_end(spec, d))[1] + self.close_lag

    def status(self, spec: LedgerSpec, d: date, now: datetime) -> str:
        """'future' (404), 'open' (tryLater) or 'closed'."""
        if now < self.window(spec, d)[0]:
            return "future"
        if (spec.ledger_id, d) in self.faults.open_dates or now < self.closes_at(spec, d):
            return "open"
        return "closed"

    def listed(self, spec: LedgerSpec, now: datetime) -> bool:
        return spec.listed_from is None or now >= spec.listed_from

    def ledger_date_of(self, spec: LedgerSpec, t: datetime) -> date:
        local = t.astimezone(ZoneInfo(spec.timezone)) - timedelta(hours=spec.cutoff_hour)
        return local.date()

    # --- generation ----------------------------------------------------------------------------
    def day(self, ledger_id: str, topic: str, d: date) -> Day:
        """The complete ledger-day as it will be once closed."""
        spec = self.ledgers[ledger_id]
        if (ledger_id, d) in self.large_days:
            n = self.large_days[(ledger_id, d)]
            return LargeDay(spec, d, topic, n, self.seed, self.window(spec, d))
        shared = World.shared_history
        if shared is None:
            cache, lock, limit = self._cache, self._lock, 4096
            key: tuple = (ledger_id, topic, d, self.faults.data_breaks())
        else:
            cache, lock, limit = shared, World._shared_lock, 200_000
            large = frozenset(self.large_days.items())
            key = (self.seed, spec, large, topic, d, self.faults.data_breaks())
        with lock:
            if key in cache:
                cache.move_to_end(key)
                return cache[key]
        built = self._build(spec, topic, d)
        with lock:
            cache[key] = built
            while len(cache) > limit:
                cache.popitem(last=False)
        return built

    def _rng(self, spec: LedgerSpec, d: date, what: str) -> random.Random:
        return random.Random(f"{self.seed}:{spec.ledger_id}:{d.isoformat()}:{what}")

    def _activity(self, spec: LedgerSpec, d: date) -> tuple[list[_Move], list[_Fee]]:
        """Captures, refunds and odd entries of a funds day, and the fees its captures cause."""
        moves, fees, rng = self._sales(spec, d)
        if not moves:
            return [], fees
        start, end = self.window(spec, d)
        span = (end - start).total_seconds()
        moves = list(moves)
        ordinal = d.toordinal() + int(spec.ledger_id)
        mid = start + timedelta(seconds=span / 2)
        if ordinal % 11 == 0:
            moves.append(
                _Move(mid, "correction", rng.choice((-900, 1200)), f"C{d:%y%m%d}", "", None)
            )
        if ordinal % 13 == 0:
            moves.append(_Move(mid, "top-up", 25_000, f"T{d:%y%m%d}", "top-up", None))
        if ordinal % 7 == 0:
            moves.append(_Move(mid, UNKNOWN_ENTRY_TYPE, 321, f"U{d:%y%m%d}", "", None))
        if "disputes" in spec.extras:
            net = sum(m.amount for m in moves)  # never let a dispute push a day below zero
            retained = self._disputed(spec, d - timedelta(days=3))
            if ordinal % 17 == 3 and retained and retained.amount < net // 3:
                moves.append(
                    replace(
                        retained,
                        t=mid,
                        entry_type="retained-disputed-capture",
                        amount=-retained.amount,
                    )
                )
            returned = self._disputed(spec, d - timedelta(days=8))
            then = self._sales(spec, d - timedelta(days=5))[0]
            if (
                (ordinal - 5) % 17 == 3
                and returned
                and returned.amount < sum(m.amount for m in then) // 3
            ):
                moves.append(
                    replace(
                        returned,
                        t=mid + timedelta(minutes=1),
                        entry_type="returned-disputed-capture",
                    )
                )
        episode = self.episode(spec, d)
        if episode is not None and d == episode[0]:
            moves.append(
                _Move(
                    start + timedelta(hours=9),
                    "refund",
                    -NEGATIVE_EPISODE_REFUND,
                    f"{spec.ledger_id[-3:]}{d:%y%m%d}EV",
                    "cancelled-event",
                    None,
                )
            )
        moves.sort(key=lambda m: m.t)
        return moves, fees

    def _disputed(self, spec: LedgerSpec, d: date) -> _Move | None:
        """The capture of date ``d`` an issuer disputes (the smallest), if that date had any."""
        captures = [m for m in self._sales(spec, d)[0] if m.entry_type == "capture"]
        return min(captures, key=lambda m: m.amount, default=None)

    def _sales(self, spec: LedgerSpec, d: date) -> tuple[list[_Move], list[_Fee], random.Random]:
        """Captures and refunds of a date, the fees they cause, and the date's random stream
        (left where the sales ended, for the odd entries that follow)."""
        if (
            d < spec.start
            or (spec.ledger_id, d) in self.large_days
            or d.weekday() in spec.quiet_weekdays
        ):
            return [], [], self._rng(spec, d, "activity")
        rng = self._rng(spec, d, "activity")
        start, end = self.window(spec, d)
        span = (end - start).total_seconds()
        n = rng.randint(*spec.captures)
        moves: list[_Move] = []
        fees: list[_Fee] = []
        times = sorted(rng.uniform(60, span - 120) for _ in range(n))
        delayed = set(rng.sample(range(n), k=min(n, rng.choice((0, 1, 2, 3)))))
        missing = (spec.ledger_id, d) in self.faults.missing_fee
        for i, offset in enumerate(times):
            t = start + timedelta(seconds=offset)
            amount = rng.randint(*spec.amounts)
            psp = f"{spec.ledger_id[-3:]}{d:%y%m%d}{i:04d}"
            reference = "" if rng.random() < 0.04 else f"order-{d:%Y%m%d}-{i:04d}"
            handle = None if rng.random() < 0.04 else rng.choice(spec.recipient_handles)
            moves.append(
                _Move(
                    t,
                    "capture",
                    amount,
                    psp,
                    reference,
                    handle,
                    name=f"Customer {i}",
                    phone=f"xxxx {1000 + i:04d}",
                    message=f"Order {i}",
                    local_format=(i % 9 == 4),
                )
            )
            fee = amount * spec.fee_bp // 10_000 + spec.fee_fixed
            delay = rng.choice((1, 2)) if i in delayed else 0
            landing = d + timedelta(days=delay)
            if (spec.ledger_id, landing) in self.large_days or landing.weekday() in (
                spec.quiet_weekdays
            ):
                landing = d  # a quiet day stays empty
            fee_t = (
                t + timedelta(seconds=3)
                if delay == 0
                else (self.window(spec, landing)[0] + timedelta(minutes=5 + i))
            )
            if not (missing and i == 0):
                if rng.random() < 0.06:  # some captures are charged two fees
                    fees.append(_Fee(psp, d, landing, -(fee - 50), fee_t, reference, handle))
                    fee = 50
                fees.append(_Fee(psp, d, landing, -fee, fee_t, reference, handle))
            if rng.random() < 0.1:
                refund_t = t + timedelta(seconds=rng.uniform(1, max(2, span - 90 - offset)))
                moves.append(
                    _Move(
                        refund_t,
                        "refund",
                        -(amount * rng.randint(10, 50) // 100),
                        f"{psp}R",
                        reference,
                        handle,
                    )
                )
        return moves, fees, rng

    def _fee_moves(self, spec: LedgerSpec, d: date) -> list[_Move]:
        moves = []
        for back in (2, 1, 0):
            for fee in self._sales(spec, d - timedelta(days=back))[1]:
                if fee.landing == d:
                    moves.append(
                        _Move(
                            fee.t,
                            "capture-fee",
                            fee.amount,
                            fee.capture_psp,
                            fee.reference,
                            fee.handle,
                        )
                    )
        start, end = self.window(spec, d)
        if d < spec.start:
            return moves
        if (d.toordinal() + int(spec.ledger_id)) % 23 == 5 and d.weekday() not in (
            spec.quiet_weekdays
        ):
            moves.append(
                _Move(start + (end - start) / 3, "correction", 50, f"FC{d:%y%m%d}", "", None)
            )
        if "service-fee" in spec.extras and d.day == 1:
            moves.append(
                _Move(
                    start + timedelta(hours=2),
                    "service-fee",
                    -9_900,
                    f"SF{d:%y%m}",
                    "subscription",
                    None,
                )
            )
        if "credit-note" in spec.extras and d.day == 3:
            moves.append(
                _Move(
                    start + timedelta(hours=3),
                    "credit-note",
                    1_500,
                    f"CN{d:%y%m}",
                    "credit note",
                    None,
                )
            )
        moves.sort(key=lambda m: m.t)
        return moves

    def closing_anchor(self, spec: LedgerSpec, topic: str, d: date) -> int | None:
        """A day's closing balance when it is known by construction (so the next day's opening
        needs no replay of history): a payout leaves the reserve, net fees are retained daily,
        gross fees are invoiced at month end, a top-up clears a negative episode."""
        if topic == "fees":
            return 0 if spec.settlement == "net" or d == month_end(d) else None
        if (spec.ledger_id, d) in self.faults.payout_not_last:
            return None
        if self.pays_out(spec, d):
            return spec.reserve
        episode = self.episode(spec, d)
        return 0 if episode is not None and d == episode[1] else None

    def opening(self, spec: LedgerSpec, topic: str, d: date) -> int:
        prev = d - timedelta(days=1)
        if prev < spec.start:
            return 0
        anchor = self.closing_anchor(spec, topic, prev)
        if anchor is not None:
            return anchor
        closing = self.day(spec.ledger_id, topic, prev).closing
        return self.opening(spec, topic, prev) if closing is None else closing

    def payout_number(self, spec: LedgerSpec, d: date) -> int:
        return 2_000_000 + (d - spec.start).days

    def _aborted(self, spec: LedgerSpec, d: date) -> _Move | None:
        """The previous date's payout coming back: it could not be executed."""
        prev = d - timedelta(days=1)
        if (
            "payout-aborted" not in spec.extras
            or (d.toordinal() + int(spec.ledger_id)) % 29
            or prev < spec.start
        ):
            return None
        last = self.day(spec.ledger_id, "funds", prev).entries[-1:]
        if not last or last[0]["entryType"] != spec.payout_type:
            return None
        start, _ = self.window(spec, d)
        return _Move(
            start + timedelta(seconds=30),
            "payout-aborted",
            -last[0]["amount"],
            last[0]["pspReference"],
            last[0]["reference"],
            None,
        )

    def _build(self, spec: LedgerSpec, topic: str, d: date) -> Day:
        _start, end = self.window(spec, d)
        fee_moves = self._fee_moves(spec, d)
        moves = fee_moves if topic == "fees" else list(self._activity(spec, d)[0])
        tail: list[tuple[str, str | int]] = []  # (entry type, amount or how to compute it)
        fees_total = sum(m.amount for m in fee_moves)
        key = (spec.ledger_id, d)
        if topic == "funds":
            aborted = self._aborted(spec, d)
            if aborted is not None:
                moves.insert(0, aborted)
            if spec.settlement == "net" and fees_total:
                tail.append(
                    (
                        "fees-retained",
                        fees_total + 100 * (key in self.faults.fees_retained_mismatch),
                    )
                )
            episode = self.episode(spec, d)
            if episode is not None and d == episode[1]:
                tail.append(("top-up", "clear"))
            if self.pays_out(spec, d):
                payout = (spec.payout_type, "payout")
                if key in self.faults.payout_not_last and tail:
                    tail.insert(0, payout)
                else:
                    tail.append(payout)
        elif spec.settlement == "net" and fees_total:
            tail.append(("fees-retained", -fees_total))
        elif spec.settlement == "gross" and d == month_end(d):
            tail.append(("fees-invoiced", "clear"))
        if not moves and d < spec.start:
            return Day([], [])

        tz = ZoneInfo(spec.timezone)
        balance = self.opening(spec, topic, d)
        if topic == "funds" and key in self.faults.balance_jump_between_days:
            balance += JUMP
        jump_at = (
            len(moves) // 2 if topic == "funds" and key in self.faults.balance_jump_in_day else -1
        )
        entries: list[dict[str, Any]] = []
        times: list[float] = []
        rows = [(m.t, m.entry_type, m.amount, m) for m in moves]
        rows += [(end, entry_type, amount, None) for entry_type, amount in tail]
        for i, (t, entry_type, how, move) in enumerate(rows):
            if i == jump_at:
                balance += JUMP
            psp = move.psp if move else f"{entry_type[:2].upper()}{spec.ledger_id}{d:%y%m%d}"
            reference = move.reference if move else ""
            if how == "payout":
                amount = -(balance - spec.reserve)
                if amount >= 0:
                    continue  # nothing to pay out (a quiet day, or below the reserve)
                n = self.payout_number(spec, d)
                psp, reference = f"{spec.ledger_id}-{n}", spec.payout_text.format(n=n)
            elif how == "clear":
                amount = -balance
                if amount == 0 or (entry_type == "top-up" and amount < 0):
                    continue
            else:
                amount = int(how)
            entry = {
                "pspReference": psp,
                "time": _fmt_time(t, tz if move and move.local_format else None),
                "ledgerDate": d.isoformat(),
                "entryType": entry_type,
                "reference": reference,
                "currency": spec.currency,
                "amount": amount,
                "balanceBefore": balance,
                "balanceAfter": balance + amount,
                "recipientHandle": move.handle if move else None,
            }
            if move is not None and move.name is not None:
                entry["name"], entry["maskedPhoneNo"], entry["message"] = (
                    move.name,
                    move.phone,
                    move.message,
                )
            entries.append(entry)
            times.append(t.timestamp())
            balance += amount
        return Day(entries, times)

    # --- what the API serves -------------------------------------------------------------------
    def served(self, ledger_id: str, topic: str, d: date, now: datetime) -> tuple[Day, int, bool]:
        """(day, number of entries visible now, tryLater). Raises LookupError for a 404:
        :class:`NoSuchLedger` for a ledger these keys cannot see."""
        spec = self.ledgers.get(ledger_id)
        if spec is None or not self.listed(spec, now):
            raise NoSuchLedger("No such ledgerId")
        status = self.status(spec, d, now)
        if status == "future":
            raise LookupError("report not available yet")
        day = self.day(ledger_id, topic, d)
        if status == "closed":
            return day, len(day), False
        return day, day.visible_count(now), True

    def feed_day(self, ledger_id: str, topic: str, d: date) -> Day:
        """The entries of a ledger-day in the order the feed serves them: exactly the by-date
        report's (``day``), unless ``Faults.feed_mismatch`` makes the feed disagree on it."""
        day = self.day(ledger_id, topic, d)
        kind = self.faults.feed_mismatch.get((ledger_id, d))
        if kind is None or topic != "funds" or isinstance(day, LargeDay) or len(day) < 2:
            return day
        entries, times = list(day.entries), list(day.times)
        if kind == "missing":
            del entries[1], times[1]
        elif kind == "order":
            entries[0], entries[1] = entries[1], entries[0]
        else:  # "amount": the first entry moves 100 more than the report says
            e = entries[0]
            entries[0] = {**e, "amount": e["amount"] + 100, "balanceAfter": e["balanceAfter"] + 100}
        return Day(entries, times)
