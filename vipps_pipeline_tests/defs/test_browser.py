"""The real Dagster UI, driven in headless Chromium: after backfills launched from the Jobs page
and from the asset graph, Dagster's partition status equals the Parquet files on disk; then what
an accountant opens: a reconciliation day's findings table, a check's evaluation of that day
(passed, with its pending finding), and the ledger report materialized from its page, with its
charts in the UI and in ``<data>/report/index.html`` opened from disk.

The stack is the project's own ``vipps-pipeline dev`` (simulator + ``dagster dev`` with its
webserver and daemon) on loopback ports, with the real clock. Screenshots of every step go to
``vipps_pipeline_tests/artifacts/``, with ``browser-runs.txt`` listing every run and its tags.
"""

from __future__ import annotations

import re
import time
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

pytest.importorskip("playwright.sync_api")

from playwright.sync_api import expect, sync_playwright

from vipps_pipeline.books.reconcile import CHECK_GROUPS
from vipps_pipeline_tests.support.backfill_pages import (
    backfill_counts,
    doc_shot,
    not_ready_count,
    stored_count,
)
from vipps_pipeline_tests.support.browser import (
    ARTIFACTS,
    ASSETS,
    CHROMIUM_ARGS,
    DevStack,
    Shots,
    button,
    check_description,
    checks_not_current,
    close_dialog,
    describe_runs,
    dev_stack,
    dismiss_community_popup,
    ensure_chromium,
    fill_launch_dialog,
    loaded_images,
    materialized,
    metadata_value,
    panel_of,
    partition_keys,
    pending_day,
    pick_partition,
    run_failure_messages,
    stored,
    toast_text,
    visible,
)
from vipps_pipeline_tests.support.dagster import check_status

LEDGER_IDS = ["100001", "100002", "100003", "100004", "100005", "100006", "100007"]
DAILY_LEDGERS = ["100001", "100002", "100003", "100005", "100006"]
"""Ledgers whose every closed date is final (100004 settles monthly, 100007 weekly)."""
DAYS = 14
UI_TIMEOUT_MS = 60_000
FINDING_COLUMNS = ["check", "topic", "status", "expected", "actual", "detail"]
CHECK = "funds_vs_fees"
"""The check whose evaluation is opened: a capture whose fee window is still open is pending."""
CHARTS = ("balance", "payouts", "fee_rate", "calendar")


@pytest.fixture(scope="session")
def chromium() -> str:
    return ensure_chromium()


def wait_for_status_equal_to_files(stack: DevStack, timeout: float = 180) -> dict[str, int]:
    """Compare once no run is in flight before and after reading (the sync sensor may start a
    run at any time); a mismatch while nothing ran is a real one."""
    deadline = time.monotonic() + timeout
    while True:
        stack.wait_idle()
        marked = {a: materialized(stack.instance, a) for a in ASSETS}
        on_disk = {a: stored(stack.data_dir, kind) for a, kind in ASSETS.items()}
        if stack.in_flight() and time.monotonic() < deadline:
            continue
        for asset in ASSETS:
            only_dagster = sorted(marked[asset] - on_disk[asset])
            only_disk = sorted(on_disk[asset] - marked[asset])
            assert marked[asset] == on_disk[asset], (
                f"{asset}: materialized in Dagster but no file: {only_dagster[:20]}; "
                f"file but not materialized: {only_disk[:20]}"
            )
        return {a: len(v) for a, v in marked.items()}


def span(dates) -> str:
    return f"{dates[0].isoformat()}..{dates[1].isoformat()} x all ledgers"


def launch_backfill(page, stack: DevStack, shots: Shots, where: str, first, last) -> str:
    fill_launch_dialog(page, first, last, len(LEDGER_IDS))
    shots(page, f"{where} launch dialog")
    button(page, "Launch backfill").click()
    backfill_id = toast_text(page, r"Created backfill ([a-z0-9]+)").group(1)
    shots(page, f"{where} backfill created")
    return backfill_id


def expect_findings_table(table, statuses: set[str]) -> None:
    """A rendered markdown table of findings: its header cells, and a cell per status shown."""
    for column in FINDING_COLUMNS:
        expect(table.get_by_role("columnheader", name=column, exact=True)).to_be_visible()
    for status in sorted(statuses):
        expect(visible(table.get_by_role("cell", name=status, exact=True)).first).to_be_visible()


def open_findings(page, stack: DevStack, shots: Shots, report: list[str]) -> None:
    """reconciliation > Partitions > a day with a pending finding: the materialization's
    findings table; then Checks > funds_vs_fees > Partitions > the same day: passed, its
    one-line description and its findings table (with the pending row)."""
    stack.wait_idle()  # the sync sensor may be rewriting findings
    picked = pending_day(stack.data_dir, CHECK_GROUPS[CHECK], prefer="100001")
    assert picked, f"no stored reconciliation day has a pending {CHECK} finding"
    day, ledger_id, findings = picked
    not_pass = [f for f in findings if f["status"] != "pass"]
    counts = {s: sum(f["status"] == s for f in findings) for s in ("pass", "pending")}
    report.append(f"reconciliation {day}|{ledger_id}: not a pass on disk: {not_pass}")

    # the asset's own Partitions tab (the first one; a check has one too)
    page.goto(f"{stack.url}/assets/reconciliation")
    page.get_by_role("tab", name="Partitions").first.click()
    panel = panel_of(pick_partition(page, day, ledger_id))
    for name, n in counts.items():  # the counts beside the table
        row = panel.get_by_role("row").filter(has_text=re.compile(rf"^\s*{name}\s*{n}\s*$"))
        expect(visible(row)).to_have_count(1)
    table = metadata_value(page, panel, "findings")
    expect_findings_table(table, {f["status"] for f in not_pass})
    shots(page, "reconciliation partition findings")
    if table.get_by_role("button", name="Close").count():
        close_dialog(page)

    # the check's evaluation of the same partition
    page.get_by_role("tab", name="Checks").click()
    visible(page.get_by_text(CHECK, exact=True)).first.click()
    expect(page).to_have_url(re.compile(rf"checkDetail={CHECK}"))
    expect(page.get_by_role("tab", name="Execution history")).to_be_visible()
    page.get_by_role("tab", name="Partitions").last.click()
    panel = panel_of(pick_partition(page, day, ledger_id))
    description = check_description(findings, CHECK_GROUPS[CHECK])
    expect(visible(panel.get_by_text(description, exact=True))).to_have_count(1)
    expect(visible(panel.get_by_text("Passed", exact=True))).to_have_count(1)
    expect(visible(panel.get_by_text("Failed", exact=True))).to_have_count(0)
    shots(page, f"{CHECK} partition evaluation")
    table = metadata_value(page, panel, "findings")
    expect_findings_table(
        table, {f["status"] for f in not_pass if f["check"] in CHECK_GROUPS[CHECK]}
    )
    shots(page, f"{CHECK} findings")
    if table.get_by_role("button", name="Close").count():
        close_dialog(page)
    report.append(f"{CHECK} {day}|{ledger_id}: Passed, {description!r}")


def materialize_report(page, stack: DevStack, shots: Shots, report: list[str]) -> None:
    """ledger_report > Materialize; its metadata shows every ledger's charts; then
    file://<data>/report/index.html shows 4 loaded charts per ledger with stored days."""
    page.goto(f"{stack.url}/assets/ledger_report")
    button(page, "Materialize").click()
    launched = page.get_by_text(re.compile(r"Launched run [0-9a-f]{8}")).first
    sure = page.get_by_role("dialog").filter(has_text="Are you sure?")
    expect(launched.or_(sure).first).to_be_visible()
    if sure.is_visible():  # only while an upstream asset has never been materialized
        sure.get_by_role("button", name="Confirm").click()
    run_prefix = toast_text(page, r"Launched run ([0-9a-f]{8})").group(1)
    run = stack.wait_run(run_prefix)
    assert run.status.value == "SUCCESS", run_failure_messages(stack.instance, run)
    ledgers = sorted({k.split("|")[1] for k in stored(stack.data_dir, "statements")})
    assert ledgers, "no statements stored: the report would have no charts"

    page.reload()
    expect(page.get_by_text("Latest materialization")).to_be_visible()
    for ledger_id in ledgers[:10]:  # the UI shows the first ten ledgers' charts
        expect(visible(page.get_by_text(f"ledger_{ledger_id}", exact=True))).to_have_count(1)
    shots(page, "ledger report materialized")
    charts = metadata_value(page, page, f"ledger_{ledgers[0]}")
    images = charts.locator("img")
    expect(images).to_have_count(len(CHARTS))
    for k in range(len(CHARTS)):
        expect(images.nth(k)).to_have_js_property("complete", True)
    in_ui = loaded_images(charts)
    assert all(i["data_url"] and i["width"] > 0 for i in in_ui), in_ui
    shots(page, f"ledger report charts of {ledgers[0]}")
    close_dialog(page)

    index = stack.data_dir / "report" / "index.html"
    assert index.exists(), f"{index} was not written"
    page.goto(index.resolve().as_uri())
    expect(page.get_by_role("heading", name="Settlement ledgers")).to_be_visible()
    page.wait_for_load_state("load")
    pictures = loaded_images(page)
    shots(page, "report index html")
    loaded = [i for i in pictures if i["width"] > 0]
    per_ledger = {
        lid: sum(i["alt"].endswith(f" of ledger {lid}") for i in loaded) for lid in ledgers
    }
    report.append(
        f"ledger_report run {run.run_id}: {len(in_ui)} charts of ledger {ledgers[0]} in the UI; "
        f"{index}: {len(loaded)} of {len(pictures)} images loaded, per ledger {per_ledger}"
    )
    assert len(loaded) >= len(CHARTS) * len(ledgers)
    assert all(n == len(CHARTS) for n in per_ledger.values()), per_ledger


def soft(problems: list[str], what: str, step) -> None:
    """Run one UI assertion and keep going: a browser run is expensive, so every item's
    result is collected and the test fails at the end listing each one that did not hold."""
    try:
        step()
    except AssertionError as exc:  # playwright's expect raises AssertionError too
        problems.append(f"{what}: {str(exc).splitlines()[0]}")


def jobs_backfill_counts(stack: DevStack, backfill_id: str, first, last, problems, report):
    """The Jobs-page backfill: one run per ledger (7 ledgers < 10 dates), each tagged with its
    ledger and date span and with how many of its days were not ready; the page's counts are
    run statuses over every requested partition."""
    requested = partition_keys(first, last, LEDGER_IDS)
    on_disk = stored(stack.data_dir, ASSETS["funds_report"]) & requested
    runs = [
        r
        for r in stack.instance.get_runs(limit=500)
        if r.tags.get("dagster/backfill") == backfill_id
    ]
    tags = {r.tags.get("dagster/partition/ledger"): r.tags for r in runs}
    not_ready = sum(not_ready_count(t.get("vipps/not_ready", "x")) for t in tags.values())
    covered = sum(stored_count(t.get("vipps/stored", "x"))[1] for t in tags.values())
    counts = backfill_counts(stack.url, backfill_id)
    report.append(
        f"Jobs page backfill counts {counts}; requested {len(requested)}, stored "
        f"{len(on_disk)}, not ready per run tags {not_ready}; run tags: "
        + "; ".join(
            f"{lid} date={t.get('dagster/partition/date')} not_ready={t.get('vipps/not_ready')}"
            for lid, t in sorted(tags.items())
        )
    )
    checks = [
        (sorted(tags) == LEDGER_IDS, f"one run per ledger, tagged with it: {sorted(tags)}"),
        (
            all(t["dagster/partition/date"] == f"{first}...{last}" for t in tags.values()),
            "every run's date tag is the range it covers",
        ),
        (covered == len(requested), f"runs cover {covered} of {len(requested)} ledger-days"),
        (
            not_ready == len(requested - on_disk),
            f"vipps/not_ready tags sum to {not_ready}, {len(requested - on_disk)} not stored",
        ),
        (counts == {"runs": {"SUCCESS": len(requested)}}, f"page counts {counts}"),
    ]
    problems += [f"Jobs page backfill: {what}" for ok, what in checks if not ok]
    return runs, sorted(requested - on_disk)


def graph_backfill_counts(stack: DevStack, backfill_id: str, first, last, problems, report):
    """The asset-graph backfill: per asset, materialized = stored in the range, failed = not
    ready (an asset backfill knows no third outcome), never more than targeted."""
    requested = partition_keys(first, last, LEDGER_IDS)
    counts = backfill_counts(stack.url, backfill_id)
    report.append(f"Asset graph backfill counts {counts}")
    for asset, kind in ASSETS.items():
        on_disk = stored(stack.data_dir, kind) & requested
        want = {
            "targeted": len(requested),
            "materialized": len(on_disk),
            "failed": len(requested) - len(on_disk),
            "in_progress": 0,
        }
        if counts.get(asset) != want:
            problems.append(
                f"asset graph backfill, {asset}: page {counts.get(asset)}, files {want}"
            )


@pytest.mark.browser
@pytest.mark.heavy
@pytest.mark.timeout(1200)
def test_ui_backfills_leave_partition_status_equal_to_files(chromium: str, tmp_path: Path):
    started = time.monotonic()
    today = datetime.now(ZoneInfo("Europe/Oslo")).date()
    # 8 dates x 7 ledgers, up to the day before yesterday (yesterday may not be closed yet for
    # every ledger; the monthly and weekly ledgers leave days not ready in the range). More
    # dates than ledgers: Dagster's launch dialog ranges a run over the larger dimension, and
    # the Jobs page's runs are to be one per ledger over the dates
    jobs_range = (today - timedelta(days=9), today - timedelta(days=2))
    graph_range = (today - timedelta(days=12), today - timedelta(days=10))
    problems: list[str] = []
    shots = Shots()
    report: list[str] = [f"today (Europe/Oslo): {today}"]

    with dev_stack(tmp_path / "stack", days=DAYS) as stack, sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, headless=True, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1600, "height": 1000})
            page.set_default_timeout(UI_TIMEOUT_MS)
            expect.set_options(timeout=UI_TIMEOUT_MS)
            dismiss_community_popup(page)

            # 1. register the ledgers: materialize `ledgers` from its asset page
            page.goto(f"{stack.url}/assets/ledgers")
            button(page, "Materialize").click()
            run_prefix = toast_text(page, r"Launched run ([0-9a-f]{8})").group(1)
            shots(page, "ledgers materialize launched")
            run = stack.wait_run(run_prefix)
            assert run.status.value == "SUCCESS", run_failure_messages(stack.instance, run)
            registered = sorted(stack.instance.get_dynamic_partitions("ledgers"))
            assert registered == LEDGER_IDS
            page.reload()
            expect(page.get_by_text("Latest materialization")).to_be_visible()
            shots(page, "ledgers materialized")

            # 2. Jobs page: daily_ledger_job, "Materialize all…", a date range x all ledgers
            page.goto(f"{stack.url}/jobs")
            page.get_by_role("link", name=re.compile(r"(^|\s)daily_ledger_job$")).click()
            expect(page.get_by_text("Launch a range from this page")).to_be_visible()
            shots(page, "jobs daily ledger job")
            button(page, "Materialize all…").click()
            jobs_backfill = launch_backfill(page, stack, shots, "jobs page", *jobs_range)
            backfill = stack.wait_backfill(jobs_backfill)
            report.append(
                f"Jobs page backfill {jobs_backfill} {span(jobs_range)}: {backfill.status.value}"
            )
            page.goto(f"{stack.url}/runs/b/{jobs_backfill}")
            expect(page.get_by_text("Partition selection")).to_be_visible()
            shots(page, "jobs page backfill finished")
            doc_shot(page, "jobs-backfill")
            jobs_runs, not_ready = jobs_backfill_counts(
                stack, jobs_backfill, *jobs_range, problems, report
            )
            waiting = [r for r in jobs_runs if r.tags.get("vipps/not_ready", "0") != "0"]
            page.goto(f"{stack.url}/runs/{(waiting or jobs_runs)[0].run_id}")
            button(page, "View tags and config").click()
            soft(
                problems,
                "a Jobs-page run shows its vipps/not_ready tag",
                lambda: expect(
                    visible(page.get_by_role("dialog").get_by_text("vipps/not_ready")).first
                ).to_be_visible(),
            )
            doc_shot(page, "jobs-backfill-run-tags")
            page.get_by_role("dialog").get_by_role("button", name="OK").click()
            page.get_by_role("dialog").wait_for(state="detached")

            # 3. the asset graph: the ledger-day assets (groups reports + reconciliation)
            page.get_by_role("link", name=re.compile(r"(^|\s)Lineage$")).click()
            expect(page.get_by_text("Global asset lineage")).to_be_visible()
            page.locator(".CodeMirror:visible").first.click()
            # the ledger-day assets only: ledger_report (group reports) is not partitioned, and
            # with it in the selection the backfill shows it Failed
            page.keyboard.type("(group:reports or group:reconciliation) and not key:ledger_report")
            page.keyboard.press("Enter")
            expect(page).to_have_url(re.compile(r"group%3Areports"))
            shots(page, "lineage filtered")
            button(page, "Materialize all…").click()
            graph_backfill = launch_backfill(page, stack, shots, "asset graph", *graph_range)
            backfill = stack.wait_backfill(graph_backfill)
            status = backfill.status.value
            report.append(f"Asset graph backfill {graph_backfill} {span(graph_range)}: {status}")
            page.goto(f"{stack.url}/runs/b/{graph_backfill}")
            expect(page.get_by_text("Partitions targeted")).to_be_visible()
            shots(page, "asset graph backfill finished")
            doc_shot(page, "asset-graph-backfill")
            graph_backfill_counts(stack, graph_backfill, *graph_range, problems, report)

            # 4. every requested closed day of a daily ledger is stored (a failed run's gaps
            # are the sync sensor's to fill: give it a couple of its 60 s ticks), and then
            # Dagster's partition status equals the files
            wanted = set().union(
                *(partition_keys(*r, DAILY_LEDGERS) for r in (jobs_range, graph_range))
            )

            def missing_days() -> dict[str, list[str]]:
                stack.wait_idle()
                gaps = {a: sorted(wanted - stored(stack.data_dir, k)) for a, k in ASSETS.items()}
                return {a: g for a, g in gaps.items() if g}

            gaps = first_gaps = missing_days()
            deadline = time.monotonic() + 180
            while gaps and time.monotonic() < deadline:
                time.sleep(5)
                gaps = missing_days()
            if first_gaps:
                report.append(f"closed days missing right after the backfills: {first_gaps}")
            assert not gaps, f"closed days of daily ledgers not stored: {gaps}"
            counts = wait_for_status_equal_to_files(stack)
            report.append(f"materialized partitions per asset (= files): {counts}")
            runs = stack.instance.get_runs(limit=500)
            for backfill_id in (jobs_backfill, graph_backfill):
                mine = [r for r in runs if r.tags.get("dagster/backfill") == backfill_id]
                report.append(f"runs of backfill {backfill_id}: {len(mine)}")
                report += describe_runs(mine)
            others = [r for r in runs if "dagster/backfill" not in r.tags]
            report.append(f"other runs: {len(others)}")
            report += describe_runs(others)
            failed = [r for r in runs if r.status.value != "SUCCESS"]
            for r in failed:
                report += [f"FAILED {r.run_id}", *run_failure_messages(stack.instance, r)]
            page.goto(f"{stack.url}/runs?show_runs_within_backfills=true")
            expect(page.get_by_text("daily_ledger_job").first).to_be_visible()
            shots(page, "runs")
            assert not failed, "runs failed:\n" + "\n".join(
                line for line in report if line.startswith(("FAILED", "STEP_", "RUN_"))
            )

            # 4b. a day that is not ready: missing, with the API's answer on the partition
            if not_ready:
                # the earliest: the day the API was asked about (later ones are not asked)
                day, ledger_id = not_ready[0].split("|")
                page.goto(f"{stack.url}/assets/funds_report")
                page.get_by_role("tab", name="Partitions").first.click()
                pick_partition(page, day, ledger_id)
                # the panel reads materializations only: the reason is an observation, shown
                # when its row in the events dialog is opened
                # the button counts the events: "View all historical events (1)"
                page.get_by_role(
                    "button", name=re.compile(r"View all historical events( \(\d+\))?$")
                ).click()
                dialog = page.get_by_role("dialog")
                dialog.get_by_text(f"{day}|{ledger_id}").last.click()
                soft(
                    problems,
                    f"not-ready day {day}|{ledger_id} shows its reason",
                    lambda: expect(
                        visible(page.get_by_role("dialog").get_by_text("not_ready_reason")).first
                    ).to_be_visible(),
                )
                doc_shot(page, "not-ready-partition")

            # 4c. the ledger list refreshed: no ledger-day partition turns "Unsynced"
            page.goto(f"{stack.url}/assets/ledgers")
            button(page, "Materialize").click()
            run = stack.wait_run(toast_text(page, r"Launched run ([0-9a-f]{8})").group(1))
            assert run.status.value == "SUCCESS", run_failure_messages(stack.instance, run)
            page.goto(f"{stack.url}/assets/reconciliation")
            page.get_by_role("tab", name="Lineage").click()
            expect(visible(page.get_by_text("daily_statements")).first).to_be_visible()
            page.wait_for_timeout(3000)  # the graph's status badges load after the nodes
            soft(
                problems,
                "no Unsynced badge after the ledger list refreshed",
                lambda: expect(visible(page.get_by_text("Unsynced"))).to_have_count(0),
            )
            doc_shot(page, "lineage-after-ledger-refresh")

            # 5. the reconciliation asset's Checks tab: partitions that passed
            page.goto(f"{stack.url}/assets/reconciliation")
            page.get_by_role("tab", name="Checks").click()
            expect(page.get_by_text("balance_continuity").first).to_be_visible()
            # Dagster marks a planned evaluation Skipped when a ranged run stores no file for
            # a day (not ready): docs/operations.md says so. Skipped days are exactly those.
            skipped = check_status(stack.instance, "balance_continuity").get("SKIPPED", set())
            soft(
                problems,
                '"Skipped" only on days that were not ready',
                lambda: expect(visible(page.get_by_text("Skipped", exact=True))).to_have_count(
                    3 if skipped else 0
                ),
            )
            if not skipped <= set(not_ready):
                problems.append(
                    f"checks skipped on stored days: {sorted(skipped - set(not_ready))}"
                )
            doc_shot(page, "reconciliation-checks")
            page.get_by_role("tab", name="Partitions").last.click()
            passed = page.get_by_text(re.compile(r"^Passed \(\d+\)$"))
            expect(passed).to_have_text(re.compile(r"^Passed \([1-9]\d*\)$"))
            n_passed = int(re.search(r"\d+", passed.inner_text()).group())
            failed_label = page.get_by_text(re.compile(r"^Failed \(\d+\)$")).inner_text()
            n_failed = int(re.search(r"\d+", failed_label).group())
            shots(page, "reconciliation checks partitions")
            reconciled = stored(stack.data_dir, "reconciliation")
            report.append(
                f"Checks tab, balance_continuity: Passed ({n_passed}), Failed ({n_failed}); "
                f"reconciliation files: {len(reconciled)}"
            )
            assert n_passed > 0
            # asserted at the end, so that a mismatch does not hide what steps 6 and 7 show
            not_judged = checks_not_current(
                stack.instance, "reconciliation", "balance_continuity", reconciled
            )
            if not_judged:
                report.append("stored days the check does not count as Passed or Failed:")
                report += [f"  {line}" for line in not_judged]

            # 6. what an accountant opens: a day's findings, a check's evaluation of that day
            open_findings(page, stack, shots, report)

            # 7. the ledger report, materialized from its page; its charts in the UI and on disk
            materialize_report(page, stack, shots, report)
        except BaseException:
            if "page" in locals():
                shots(page, "failure")
            raise
        finally:
            browser.close()
            report.append(f"elapsed: {time.monotonic() - started:.0f}s")
            (ARTIFACTS / "browser-runs.txt").write_text("\n".join(report) + "\n")
            (ARTIFACTS / "browser-dev.log").write_text(stack.log_tail(200_000))
            print("\n".join(report))

    assert not problems, "\n".join(problems)
    # 5, continued: every stored day is judged by the check, passed or failed
    assert n_passed + n_failed == len(reconciled), (
        f"Checks tab: Passed ({n_passed}) + Failed ({n_failed}) != {len(reconciled)} "
        "reconciliation files; per Dagster's check records:\n" + "\n".join(not_judged)
    )
