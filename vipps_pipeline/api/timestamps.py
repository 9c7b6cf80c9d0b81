"""Entry times as the API writes them, read into one UTC timestamp column.

The API sends several ISO 8601 forms (offsets with and without a colon, ``Z``, none at all, up
to nanoseconds); Arrow reads only some of them directly, so the rest are rewritten to one form
first, and a time that is no timestamp at all is refused naming its entry.
"""

from __future__ import annotations

import re

import pyarrow as pa
import pyarrow.compute as pc

from vipps_pipeline.api.errors import BadReport

_TIME = re.compile(
    r"(\d{4}-\d{2}-\d{2})[T ](\d{2}:\d{2})(:\d{2})?(?:\.(\d{1,9}))?(Z|z|[+-]\d{2}:?\d{2})?"
)


def _normal_time(value: str) -> str | None:
    """The ISO 8601 forms the API sends, as one form Arrow reads: up to 9 fractional digits
    (cut to microseconds, the precision stored), ``Z``, ``+0200``, ``+02:00`` or no offset
    (the field is documented as UTC). None when the text is not a timestamp."""
    m = _TIME.fullmatch(value.strip())
    if m is None:
        return None
    day, minutes, seconds, fraction, offset = m.groups()
    if offset is None or offset in ("Z", "z"):
        offset = "+00:00"
    elif ":" not in offset:
        offset = f"{offset[:3]}:{offset[3:]}"
    micros = ((fraction or "") + "000000")[:6]
    return f"{day}T{minutes}{seconds or ':00'}.{micros}{offset}"


def times(values: pa.Array, ctx: tuple[str, str, str], seq_start: int) -> pa.Array:
    """Column-wise when every time has a form Arrow reads at once (the normal case), then
    value by value, naming the first entry whose time is not a timestamp."""
    target = pa.timestamp("us", tz="UTC")
    try:
        return pc.cast(values, target)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        pass
    normal = []
    for i, v in enumerate(values.to_pylist()):
        fixed = None if v is None else _normal_time(v)
        if v is not None and fixed is None:
            raise BadReport.at(
                ctx, f"entry {seq_start + i}: field 'time' {v!r} is not an ISO 8601 timestamp"
            )
        normal.append(fixed)
    try:
        return pc.cast(pa.array(normal, pa.string()), target)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:  # e.g. month 13
        raise BadReport.at(ctx, f"field 'time' has an impossible date or time: {exc}") from None
