"""One documented report entry, and the parser run on it."""

from __future__ import annotations

from datetime import date

from vipps_pipeline.api.parse import page_to_batch

ENTRY = {
    "pspReference": "3343121302",
    "time": "2020-10-05T00:00:00.000000Z",
    "ledgerDate": "2020-10-05",
    "entryType": "capture",
    "reference": "acme-shop-123-order123abc",
    "currency": "NOK",
    "amount": 49900,
    "balanceBefore": 0,
    "balanceAfter": 49900,
    "recipientHandle": "NO:123455",
    "message": "Order 123ABC",
    "name": "John Doe",
    "maskedPhoneNo": "xxxx 5678",
}


DAY = date(2020, 10, 5)


def parse(items, include_gdpr=False):
    return page_to_batch(
        items,
        ledger_id="302321",
        topic="funds",
        ledger_date=DAY,
        seq_start=0,
        include_gdpr=include_gdpr,
    )
