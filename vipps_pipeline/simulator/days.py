"""Generated ledger-days as the API pages them: a stored day, and a huge day made on demand.

A ``Day`` knows which of its entries are visible at a given time, so one object answers both
an open date (``tryLater``) and its closed form; ``LargeDay`` computes any page's entries and
balances in closed form, so a million-entry day costs no memory.
"""

from __future__ import annotations

import random
from bisect import bisect_right
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from vipps_pipeline.simulator.ledgers import LedgerSpec

_PERIOD = 97
"""Large days repeat a 97-entry amount pattern so any page's balances are closed-form."""


def fmt_time(t: datetime, tz: ZoneInfo | None = None) -> str:
    """UTC with a Z, or (with tz) local time and a +HHMM offset, as the API sometimes sends."""
    if tz is None:
        return t.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return t.astimezone(tz).strftime("%Y-%m-%dT%H:%M:%S.%f%z")


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

    def __init__(
        self,
        spec: LedgerSpec,
        d: date,
        topic: str,
        n: int,
        seed: int,
        window: tuple[datetime, datetime],
    ) -> None:
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
                    "time": fmt_time(t),
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
