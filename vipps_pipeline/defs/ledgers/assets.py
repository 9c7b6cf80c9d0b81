"""The ledger list: every ledger the API keys can see, and the partitions it registers."""

import dagster as dg

from vipps_pipeline.api.errors import ApiError
from vipps_pipeline.defs.keys import API_POOL, LEDGERS_KEY
from vipps_pipeline.defs.partitions import UNSHARDED, Shard, shard_ledger_partitions
from vipps_pipeline.defs.resources import PipelineResource, ReportApiResource
from vipps_pipeline.defs.tables import table
from vipps_pipeline.store.ledgers import write_ledgers

LEDGER_COLUMNS = ["ledger_id", "currency", "settles_for_recipient_handles", "sales_units", "listed"]


def build_ledgers_asset(shard: Shard = UNSHARDED) -> dg.AssetsDefinition:
    """The ledger list of one shard: every shard lists all ledgers (one cheap call) and
    registers only its own in its own partitions."""
    return dg.asset(
        key=shard.key(LEDGERS_KEY),
        group_name="ledgers",
        kinds={"python", "parquet"},
        pool=API_POOL,
        description=_LEDGERS_DESCRIPTION,
    )(_ledgers_fn(shard))


_LEDGERS_DESCRIPTION = (
    "Every ledger the API keys can see, with currency, recipient handles, owner, "
    "sales units and the payout account masked to its last 4 digits. New ledger ids become "
    "partitions of the `ledgers` dimension; a ledger that disappears keeps its history."
)


def _ledgers_fn(shard: Shard):
    partitions = shard_ledger_partitions(shard)

    def ledgers(
        context: dg.AssetExecutionContext, api: ReportApiResource, pipeline: PipelineResource
    ) -> dg.MaterializeResult:
        return _register_ledgers(context, api, pipeline, shard, partitions)

    return ledgers


def _register_ledgers(
    context: dg.AssetExecutionContext,
    api: ReportApiResource,
    pipeline: PipelineResource,
    shard: Shard,
    partitions: dg.DynamicPartitionsDefinition,
) -> dg.MaterializeResult:
    client, settings = api.get_client(), pipeline.settings()
    try:  # first/last seen on the pipeline's clock, so a pinned VIPPS_NOW pins them too
        result = write_ledgers(client, settings.data_dir, now=settings.now())
    except ApiError as exc:
        raise dg.Failure(description=str(exc), allow_retries=False) from None
    mine = [lid for lid in result.ledger_ids if shard.owns(lid)]
    known = set(context.instance.get_dynamic_partitions(partitions.name))
    new = [lid for lid in mine if lid not in known]
    if new:
        context.instance.add_dynamic_partitions(partitions.name, new)
        context.log.info("registered new ledgers: %s", ", ".join(new))
    rows = [
        {k: ", ".join(v) if isinstance(v, list) else v for k, v in row.items()}
        for row in result.table.select(LEDGER_COLUMNS).to_pylist()[:50]
    ]
    return dg.MaterializeResult(
        metadata={
            "ledgers": len(mine),
            "new_ledgers": dg.MetadataValue.json(new),
            "no_longer_listed": dg.MetadataValue.json(sorted(known - set(mine))),
            "path": dg.MetadataValue.path(str(result.path.resolve())),
            "preview": table(rows, LEDGER_COLUMNS),
        }
    )


ledgers = build_ledgers_asset()
