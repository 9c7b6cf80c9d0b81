"""Remove each protection in a scratch copy and check that the test guarding it fails.

Run: ``.venv/bin/python -m vipps_pipeline_tests.mutations`` (about 1 minute). Not part of the
suite: it proves the suite can fail, which a green run alone never shows.
"""

import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
MUTATIONS = [
    (
        "atomic rename (write in place)",
        "vipps_pipeline/store/atomic.py",
        'tmp = path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex}.tmp")',
        "tmp = path",
        "store/test_storage.py::test_atomic_writer_keeps_the_old_file_when_a_write_fails sync/test_faults.py::test_crash_while_writing_a_large_day_leaves_no_partial_file",
    ),
    (
        "object store: a failed write is uploaded all the same",
        "vipps_pipeline/store/atomic.py",
        "        tmp.unlink(missing_ok=True)\n        raise",
        "        if remote:\n            objstore.upload(tmp, target)\n        tmp.unlink(missing_ok=True)\n        raise",
        "store/test_object_store.py::test_a_write_that_fails_midway_leaves_no_object_and_keeps_the_old_one",
    ),
    (
        "tryLater treated as final",
        "vipps_pipeline/api/reports.py",
        'if _flag(body, "tryLater", ids):',
        "if False:",
        "api/test_client.py::test_try_later_is_not_ready defs/test_dagster.py::test_a_day_not_ready_succeeds_stores_nothing_and_says_why",
    ),
    (
        "a flag read loosely (any truthy value)",
        "vipps_pipeline/api/reports.py",
        "    if not isinstance(value, bool):  # null",
        "    if False:  # null",
        "api/test_client.py::test_a_flag_that_is_not_a_json_boolean_is_a_bad_report_never_a_final_day",
    ),
    (
        "a ranged run reads the per-dimension tags (the Jobs-page backfill bug)",
        "vipps_pipeline/defs/partitions.py",
        "    if not (start and end):",
        "    if True:",
        "defs/test_dagster.py::test_a_jobs_page_backfill_run_stores_its_whole_range",
    ),
    (
        "the walk does not stop at the first date not ready",
        "vipps_pipeline/sync/engine.py",
        "                    stopped[topic] = exc\n",
        "                    pass\n",
        "sync/test_ledger_run.py::test_the_walk_stops_at_the_first_date_not_ready",
    ),
    (
        "neighbours' findings not recomputed when a late day arrives",
        "vipps_pipeline/sync/engine.py",
        "    targets |= {d for d in stale_findings if lo <= d <= hi and d not in in_chunk | later}",
        "    targets |= set()",
        "defs/test_dagster.py::test_a_late_day_gets_its_findings_and_its_neighbours_are_recomputed",
    ),
    (
        "check evaluations not tied to their materialization",
        "vipps_pipeline/defs/recording/evaluations.py",
        "                    target_materialization_data=target,",
        "                    target_materialization_data=None,",
        "defs/test_dagster.py::test_the_checks_tab_shows_passed_and_failed_per_partition",
    ),
    (
        "no outage breaker",
        "vipps_pipeline/sync/engine.py",
        "        if self.in_a_row >= self.limit:",
        "        if False:",
        "sync/test_ledger_run.py::test_an_outage_stops_the_work_after_three_failed_days",
    ),
    (
        "payout must equal the balance (no rolling reserve)",
        "vipps_pipeline/books/checks/payouts.py",
        '        elif x["balance_before"] + x["amount"] < 0:',
        '        elif x["balance_before"] + x["amount"] != 0:',
        "books/test_reconcile.py::test_a_rolling_reserve_payout_passes_and_the_statement_shows_the_reserve",
    ),
    (
        "404 treated as an empty day",
        "vipps_pipeline/api/reports.py",
        'raise NotReady(*ids, "404", api_message(response))',
        "return",
        "api/test_client.py::test_404_is_not_ready_never_an_empty_day",
    ),
    (
        "no cursor-loop detection",
        "vipps_pipeline/api/reports.py",
        "            if cursor in seen:\n                raise BadReport(",
        "            if False:\n                raise BadReport(",
        "sync/test_faults.py::test_bad_api_input_is_refused_clearly_and_stores_nothing_for_that_day[cursor_loop]",
    ),
    (
        "amounts of any type accepted",
        "vipps_pipeline/api/entry_checks.py",
        "if type(value) is not int:",
        "if value is None:",
        "sync/test_faults.py::test_bad_api_input_is_refused_clearly_and_stores_nothing_for_that_day[amount_string]",
    ),
    (
        "no token refresh on 401",
        "vipps_pipeline/api/client.py",
        "if response.status_code == 401 and token not in refused and len(refused) < 2:",
        "if False:",
        "api/test_client.py::test_token_revoked_mid_pagination",
    ),
    (
        "headers logged at debug level",
        "vipps_pipeline/api/client.py",
        "            self._http.count_request(what)\n",
        "            self._http.count_request(what)\n            log.debug('request headers %s', auth_headers(self.settings, token))\n",
        "sync/test_faults.py::test_no_secret_or_token_is_logged_stored_or_raised",
    ),
    (
        "no truncated-body retry",
        "vipps_pipeline/api/client.py",
        "            attempt += 1\n            if attempt > self.settings.http_retries",
        "            attempt += 99\n            if attempt > self.settings.http_retries",
        "api/test_client.py::test_5xx_and_truncated_bodies_are_retried_without_losing_rows",
    ),
    (
        "ledger id not validated",
        "vipps_pipeline/settings/types.py",
        "if not isinstance(ledger_id, str) or not LEDGER_ID_RE.match(ledger_id):",
        "if not isinstance(ledger_id, str):",
        "api/test_client.py::test_ledger_id_is_validated_before_any_request defs/test_dagster.py::test_bad_ledger_id_in_the_list_is_refused_and_nothing_is_stored",
    ),
    (
        "chain check removed",
        "vipps_pipeline/books/checks/balance.py",
        "chain_mask = (prev_after.notna() & (e.balance_before != prev_after)).fillna(False)",
        "chain_mask = (prev_after.notna() & False).fillna(False)",
        "books/test_reconcile.py::test_each_injected_break_fails_exactly_where_injected books/test_properties.py::test_any_single_field_corruption_is_detected",
    ),
    (
        "GDPR fields always stored",
        "vipps_pipeline/api/fields.py",
        "    return _ENTRY_GDPR if include_gdpr else _ENTRY",
        "    return _ENTRY_GDPR",
        "store/test_storage.py::test_page_to_batch_follows_the_schema",
    ),
    (
        "feed: a crashed page's rows kept (no committed prefix)",
        "vipps_pipeline/feed/stream.py",
        "    return table.slice(0, committed)",
        "    return table",
        "feed/test_feed.py::test_a_crash_between_pages_never_duplicates_or_skips",
    ),
    (
        "feed: the cursor not committed with its page",
        "vipps_pipeline/feed/stream.py",
        "    record.save(data_dir)  # step (2): the commit",
        "    pass",
        "feed/test_feed.py::test_a_pass_reads_until_caught_up_and_stores_every_entry_once",
    ),
    (
        "feed: a page of entries without a new cursor accepted",
        "vipps_pipeline/api/feed_pages.py",
        "    if items and (not new or new == cursor):",
        "    if False:",
        "feed/test_feed.py::test_a_bad_page_stores_nothing_and_keeps_the_cursor",
    ),
    (
        "feed: closed dates pruned whether they match or not",
        "vipps_pipeline/feed/books.py",
        '        if row["status"] == Status.PASS and target.exists():',
        "        if target.exists():",
        "feed/test_feed.py::test_a_feed_that_differs_from_the_report_is_a_finding",
    ),
    (
        "feed: no backoff while nothing is new",
        "vipps_pipeline/feed/stream.py",
        "    return min(max(previous, settings.feed_poll_seconds // 2) * 2, settings.feed_max_poll_seconds)",
        "    return settings.feed_poll_seconds",
        "feed/test_feed.py::test_polling_backs_off_while_nothing_is_new",
    ),
]


def main() -> int:
    missed = 0
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "repo"
        shutil.copytree(
            REPO, root, ignore=shutil.ignore_patterns(".venv", ".git", "data", ".dagster_home")
        )
        for name, path, old, new, tests in MUTATIONS:
            missed += not _run(root, name, path, old, new, tests)
    print(f"{len(MUTATIONS) - missed} of {len(MUTATIONS)} removed protections caught")
    return 1 if missed else 0


def _run(root: Path, name: str, path: str, old: str, new: str, tests: str) -> bool:
    f = root / path
    original = f.read_text()
    assert old in original, (name, old)
    f.write_text(original.replace(old, new, 1))
    try:
        ids = [f"vipps_pipeline_tests/{t}" for t in tests.split()]
        cmd = [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-x",
            "-m",
            "",  # every named test runs, whatever tier the default run leaves out
            "-p",
            "no:warnings",
            "-p",
            "no:cacheprovider",
        ]
        r = subprocess.run([*cmd, *ids], cwd=root, capture_output=True, text=True, timeout=600)
        last = [line for line in r.stdout.splitlines() if " passed" in line or " failed" in line]
        print(f"{'caught' if r.returncode else 'MISSED'}  {name}: {last[-1] if last else '?'}")
        return r.returncode != 0
    finally:
        f.write_text(original)


if __name__ == "__main__":
    sys.exit(main())
