"""Engine events as Dagster events: one materialization per stored ledger-day file, check
evaluations tied to their partition's materialization, observations for open days.

Nothing is ever reported for a partition whose file was not written: this is what keeps the
partition status in the UI equal to the files on disk, whatever started the run.

Materializations are written to the event log in batches, one batch per asset: on PostgreSQL
Dagster stores a batch in one statement (``DAGSTER_EVENT_BATCH_SIZE``, set in
``vipps_pipeline.defs``), which is most of what a ledger-day costs in bookkeeping. A batch is
sent as soon as the files it stands for are written and before anything else happens, so a
killed run loses at most the records of the files it was writing.

- :mod:`.recorder`: the event dispatch and the order things are sent in;
- :mod:`.metadata`: what each stored file shows in the UI;
- :mod:`.evaluations`: check evaluations and what they judge.
"""

from vipps_pipeline.defs.recording.recorder import Recorded, Recorder, Summary

__all__ = ["Recorded", "Recorder", "Summary"]
