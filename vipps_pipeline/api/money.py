"""Money in minor units, exactly: sums that cannot wrap around int64.

Arrow's and pandas' sums wrap around at 2**63 without a word, so a page whose amounts sum past
it would reconcile as a small negative number and a wrong balance could pass every check. These
helpers make the overflow an error, naming the entry, before anything is stored.
"""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc

from vipps_pipeline.api.errors import BadReport

INT64 = (-(2**63), 2**63 - 1)
_SAFE = float(2**62)  # float sums carry rounding: below this the exact sum surely fits int64


def money_totals(amounts: pa.Array | pa.ChunkedArray) -> tuple[int, int]:
    """(sum, sum of absolute values) of an int64 column, exactly: Arrow's and pandas' sums wrap
    around at 2**63, so two entries of 2**62 would sum to -2**63. While the absolute sum fits
    in int64 every partial sum does too (per type, per day, running), so pandas sums of these
    rows stay exact. The float sum decides at once in every real case; only a suspect column
    is summed again in Python integers."""
    if len(amounts) == 0:
        return 0, 0
    rough = pc.sum(pc.abs(pc.cast(amounts, pa.float64(), safe=False))).as_py() or 0.0
    if rough < _SAFE:
        return int(pc.sum(amounts).as_py() or 0), int(pc.sum(pc.abs(amounts)).as_py() or 0)
    values = [v for v in amounts.to_pylist() if v is not None]
    return sum(values), sum(map(abs, values))


def check_money(cols: dict[str, pa.Array], ctx: tuple[str, str, str], seq_start: int) -> None:
    """No sum of this page's money may leave int64 (see :func:`money_totals`), and no row's
    ``balanceBefore + amount``: wrapped around, a wrong balance would pass the checks."""
    _, absolute = money_totals(cols["amt"])
    if absolute > INT64[1]:
        raise BadReport.at(ctx, "the amounts add up beyond the int64 range (overflow)")
    try:
        pc.add_checked(cols["bb"], cols["amt"])
    except pa.ArrowInvalid:
        wide = [
            i
            for i, (b, a) in enumerate(
                zip(cols["bb"].to_pylist(), cols["amt"].to_pylist(), strict=True)
            )
            if b is not None and a is not None and not INT64[0] <= b + a <= INT64[1]
        ]
        raise BadReport.at(
            ctx,
            f"entry {seq_start + wide[0]}: balanceBefore + amount is beyond the int64 range "
            "(overflow)",
        ) from None
