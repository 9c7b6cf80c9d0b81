"""What a backfill page counts, read from the webserver's GraphQL (the page's own source), and
the small screenshots the docs show.

The Jobs page's backfill counts partitions by the status of the run whose range covers them;
the asset graph's counts materializations by the backfill's runs per asset. Reading the same
fields the page renders lets the browser test assert the numbers and not a layout.
"""

from __future__ import annotations

import json
import re
import urllib.request
from pathlib import Path

DOC_SHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"

QUERY = """
query Counts($id: String!) {
  partitionBackfillOrError(backfillId: $id) {
    ... on PartitionBackfill {
      isAssetBackfill
      numPartitions
      partitionStatusCounts { runStatus count }
      assetBackfillData {
        assetBackfillStatuses {
          ... on AssetPartitionsStatusCounts {
            assetKey { path }
            numPartitionsTargeted
            numPartitionsInProgress
            numPartitionsMaterialized
            numPartitionsFailed
          }
        }
      }
    }
  }
}
"""


def backfill_counts(url: str, backfill_id: str) -> dict:
    """``{"runs": {status: n}}`` for a job backfill, ``{asset: {targeted, materialized,
    failed, in_progress}}`` for an asset backfill."""
    body = json.dumps({"query": QUERY, "variables": {"id": backfill_id}}).encode()
    request = urllib.request.Request(
        f"{url}/graphql", data=body, headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=60) as response:
        data = json.load(response)["data"]["partitionBackfillOrError"]
    if not data["isAssetBackfill"]:
        return {"runs": {c["runStatus"]: c["count"] for c in data["partitionStatusCounts"]}}
    return {
        "/".join(s["assetKey"]["path"]): {
            "targeted": s["numPartitionsTargeted"],
            "materialized": s["numPartitionsMaterialized"],
            "failed": s["numPartitionsFailed"],
            "in_progress": s["numPartitionsInProgress"],
        }
        for s in data["assetBackfillData"]["assetBackfillStatuses"]
        if "assetKey" in s
    }


def not_ready_count(tag: str) -> int:
    """The number in a ``vipps/not_ready`` tag (``"3 (100004 2026-11-20...2026-11-22)"``)."""
    match = re.match(r"^(\d+)", tag)
    assert match, tag
    return int(match.group(1))


def stored_count(tag: str) -> tuple[int, int]:
    """(stored, covered) from a ``vipps/stored`` tag (``"7 of 10 ledger-days"``)."""
    match = re.match(r"^(\d+) of (\d+) ledger-days$", tag)
    assert match, tag
    return int(match.group(1)), int(match.group(2))


def doc_shot(page, name: str) -> Path:
    """A small screenshot for the docs: the viewport, as a 256-colour PNG."""
    from PIL import Image

    DOC_SHOTS.mkdir(parents=True, exist_ok=True)
    path = DOC_SHOTS / f"{name}.png"
    page.screenshot(path=str(path))
    with Image.open(path) as image:
        small = image.convert("RGB").quantize(colors=128)
        small.save(path, optimize=True)
    return path
