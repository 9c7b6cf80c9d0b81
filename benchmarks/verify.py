"""What verifying the inventory costs: 7 ledgers x 365 days of every day kind (12,775 small
Parquet files), listed plainly, then verified the first time (every footer read), then again
(footers trusted from the record). Run: ``python -m benchmarks.verify``."""

from __future__ import annotations

import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from vipps_pipeline.store.paths import DAY_KINDS, day_path
from vipps_pipeline.store.schemas import REPORT_SCHEMA
from vipps_pipeline.sync import completeness

LEDGERS = [str(100001 + i) for i in range(7)]
DATES = [date(2025, 11, 1) + timedelta(days=k) for k in range(365)]


def main() -> None:
    row = {
        "ledger_id": "100001",
        "topic": "funds",
        "ledger_date": DATES[0],
        "seq": 0,
        "entry_type": "capture",
        "currency": "NOK",
        "amount": 100,
        "balance_before": 0,
        "balance_after": 100,
    }
    sink = pa.BufferOutputStream()
    table = pa.Table.from_pylist([row] * 200, schema=REPORT_SCHEMA)
    pq.write_table(table, sink, compression="zstd")
    blob = sink.getvalue().to_pybytes()
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp)
        for ledger in LEDGERS:
            for kind in DAY_KINDS:
                for d in DATES:
                    path = Path(day_path(data, kind, ledger, d))
                    path.parent.mkdir(parents=True, exist_ok=True)
                    path.write_bytes(blob)

        def timed(verify: bool) -> float:
            started = time.perf_counter()
            for ledger in LEDGERS:
                completeness.scan(data, ledger, verify=verify)
            return time.perf_counter() - started

        files = len(LEDGERS) * len(DAY_KINDS) * len(DATES)
        plain = min(timed(False) for _ in range(3))
        first = timed(True)
        again = min(timed(True) for _ in range(3))
        record = sum(f.stat().st_size for f in (data / "state" / "verified").iterdir())
        print(
            f"{files:,} files of {len(blob):,} B: plain scan {plain * 1000:.0f} ms; first "
            f"verifying scan {first * 1000:.0f} ms ({first / files * 1e6:.0f} us a file); later "
            f"verifying scans {again * 1000:.0f} ms (+{(again - plain) * 1000:.0f} ms); record "
            f"{record / 1024:.0f} KiB for {len(LEDGERS)} ledgers"
        )


if __name__ == "__main__":
    main()
