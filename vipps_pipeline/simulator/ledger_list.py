"""The ledger list endpoint (``/settlement/v1/ledgers``), in each shape the vendor documents.

Three sources disagree on the body's shape (the API reference, the 2023 OpenAPI file, the
newest guide); ``Faults.ledger_list_shape`` picks one so the client is tested against all.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from vipps_pipeline.simulator.faults import Faults
from vipps_pipeline.simulator.ledgers import LedgerSpec
from vipps_pipeline.simulator.model import World
from vipps_pipeline.simulator.wire import decode_cursor, encode_cursor, problem


class LedgerListing:
    """The ledger list, mixed into :class:`~vipps_pipeline.simulator.Simulator`."""

    world: World
    clock: Callable[[], datetime]
    faults: Faults

    def ledgers(self, query: dict[str, list[str]]) -> dict[str, Any]:
        now = self.clock()
        specs = sorted(
            (s for s in self.world.ledgers.values() if self.world.listed(s, now)),
            key=lambda s: s.ledger_id,
        )
        wanted = query.get("settlesForRecipientHandles", [None])[0]
        offset = 0
        if query.get("cursor", [""])[0]:
            try:
                cursor = decode_cursor(query["cursor"][0])
                offset = int(cursor["offset"])
                wanted = cursor.get("handle")
            except (ValueError, KeyError, TypeError):
                raise problem(400, "Bad Request", "Invalid cursor") from None
        if wanted:
            specs = [s for s in specs if wanted in s.recipient_handles]
        size = self.faults.ledgers_page_size
        page = specs[offset : offset + size]
        more = offset + size < len(specs)
        body: dict[str, Any] = {
            "cursor": encode_cursor({"offset": offset + size, "handle": wanted}) if more else ""
        }
        body.update(_shaped(page, self.faults.ledger_list_shape))
        return body


def _shaped(page: Sequence[LedgerSpec], shape: str) -> dict[str, Any]:
    """A page of ledgers in one of the documented shapes."""
    ledgers = [
        {
            "ledgerId": s.ledger_id,
            "currency": s.currency,
            "payoutBankAccount": {"scheme": s.bank_account[0], "id": s.bank_account[1]},
            "owner": {"id": s.owner[0], "scheme": s.owner[1]},
            "settlesForRecipientHandles": list(s.recipient_handles),
        }
        for s in page
    ]
    if shape == "reference":  # the API reference: `ledgers`, sales units beside them
        units = [
            {
                "name": s.sales_unit,
                "recipientHandle": list(s.recipient_handles),
                "businessIdentifier": {"id": s.owner[0], "scheme": s.owner[1]},
            }
            for s in page
        ]
        return {"ledgers": ledgers, "salesUnits": units}
    if shape == "openapi":  # the 2023 OpenAPI file: `items`, no sales units
        return {"items": ledgers}
    # the newest guide: `items`, each with its own units, one handle per unit
    items = [
        {
            **ledger,
            "salesUnits": [
                {
                    "name": s.sales_unit if i == 0 else f"{s.sales_unit} {handle}",
                    "recipientHandle": handle,
                    "businessIdentifier": {"id": s.owner[0], "scheme": s.owner[1]},
                }
                for i, handle in enumerate(s.recipient_handles)
            ],
        }
        for ledger, s in zip(ledgers, page, strict=True)
    ]
    return {"items": items}
