"""The simulator is only useful if it is faithful: its clean data obeys every invariant."""

from __future__ import annotations

import json
import re
import resource
from datetime import UTC, date, datetime, timedelta

import pytest
import requests

from vipps_pipeline.api.client import ReportClient
from vipps_pipeline.settings import ApiSettings
from vipps_pipeline.simulator import LEDGERS, Simulator, World
from vipps_pipeline_tests.support.clock import NOW, days

MONTH = days(date(2026, 9, 20), date(2026, 11, 22))


@pytest.mark.parametrize("spec", LEDGERS, ids=lambda s: s.ledger_id)
def test_clean_data_obeys_the_invariants(spec):
    world = World(seed=0)
    closing: dict[str, int | None] = {"funds": None, "fees": None}
    for d in MONTH:
        for topic in ("funds", "fees"):
            entries = world.day(spec.ledger_id, topic, d).entries
            for i, e in enumerate(entries):
                assert e["balanceBefore"] + e["amount"] == e["balanceAfter"]
                assert e["ledgerDate"] == d.isoformat() and e["currency"] == spec.currency
                if i:
                    assert e["balanceBefore"] == entries[i - 1]["balanceAfter"]
            if entries and closing[topic] is not None:
                assert entries[0]["balanceBefore"] == closing[topic], (topic, d)
            if entries:
                closing[topic] = entries[-1]["balanceAfter"]
            payouts = [i for i, e in enumerate(entries) if e["entryType"] == spec.payout_type]
            assert all(i == len(entries) - 1 for i in payouts)


def test_the_simulated_world_covers_what_the_pipeline_must_handle():
    world = World(seed=0)
    types: set[str] = set()
    max_balance = 0
    null_handles = offsets = 0
    for spec in LEDGERS:
        for d in MONTH:
            for topic in ("funds", "fees"):
                for e in world.day(spec.ledger_id, topic, d).entries:
                    types.add(e["entryType"])
                    max_balance = max(max_balance, abs(e["balanceAfter"]))
                    null_handles += e["recipientHandle"] is None
                    offsets += e["time"].endswith(("+0100", "+0200", "+0300"))
    assert {
        "capture",
        "refund",
        "capture-fee",
        "fees-retained",
        "fees-invoiced",
        "correction",
        "top-up",
        "payout-scheduled",
        "scheduled-for-payout",
        "payout-aborted",
        "retained-disputed-capture",
        "returned-disputed-capture",
        "service-fee",
        "credit-note",
    } <= types
    assert max_balance > 2**31, "balances must exceed int32"
    assert null_handles and offsets


def test_the_vendors_settlement_cases_are_simulated():
    world = World(seed=0)
    funds = {
        lid: {d: world.day(lid, "funds", d).entries for d in MONTH}
        for lid in ("100001", "100005", "100006", "100007")
    }
    # rolling reserve: every payout leaves 250,000 on the ledger
    payouts = [
        e[-1] for e in funds["100005"].values() if e and e[-1]["entryType"].startswith("pay")
    ]
    assert payouts and {p["balanceAfter"] for p in payouts} == {250_000}
    # negative balance: carried for weeks with no payout, then a top-up clears it
    negative = [d for d, e in funds["100006"].items() if e and e[-1]["balanceAfter"] < 0]
    assert len(negative) >= 40
    assert not any(
        x["entryType"] == "payout-scheduled" for d in negative for x in funds["100006"][d]
    )
    [top_up] = [
        x
        for e in funds["100006"].values()
        for x in e
        if x["entryType"] == "top-up"
        and x["amount"] > 1_000_000  # the invoice paid, not a small one
    ]
    assert top_up["balanceAfter"] == 0 and top_up["ledgerDate"] == "2026-10-31"
    # weekly settlement, quiet Saturdays: empty closed days, a payout on Sundays only
    week = funds["100007"]
    assert all(not e for d, e in week.items() if d.weekday() == 5)
    assert {
        d.weekday() for d, e in week.items() if e and e[-1]["entryType"] == "payout-scheduled"
    } == {6}
    # payouts are <ledgerId>-<n> with the bank-transfer text as reference (missing in Norway)
    last = funds["100001"][MONTH[-1]][-1]
    assert re.fullmatch(r"100001-\d+", last["pspReference"])
    assert last["reference"].startswith("Vipps utbet.")
    assert payouts[0]["reference"] == ""
    status = world.status(
        world.ledgers["100006"], date(2026, 9, 15), datetime(2026, 10, 20, tzinfo=UTC)
    )
    assert status == "open", "the negative episode keeps its dates open"


def test_some_fees_land_one_or_two_ledger_dates_late_and_some_captures_have_two():
    world = World(seed=0)
    late = {1: 0, 2: 0}
    doubled = 0
    for d in MONTH[3:]:
        fees = world.day("100001", "fees", d).entries
        psps = [e["pspReference"] for e in fees if e["entryType"] == "capture-fee"]
        doubled += len(psps) - len(set(psps))
        for e in fees:
            if e["entryType"] == "capture-fee":
                captured = date(
                    2000 + int(e["pspReference"][3:5]),
                    int(e["pspReference"][5:7]),
                    int(e["pspReference"][7:9]),
                )
                if (d - captured).days in late:
                    late[(d - captured).days] += 1
    assert late[1] > 0 and late[2] > 0 and doubled > 0


def test_ledger_dates_follow_local_time_and_dst():
    world = World(seed=0)
    oslo = world.ledgers["100001"]
    start, end = world.window(oslo, date(2026, 10, 25))  # DST ends: a 25-hour day
    assert end - start == timedelta(hours=25)
    start, end = world.window(oslo, date(2026, 3, 29))  # DST starts: a 23-hour day
    assert end - start == timedelta(hours=23)
    # a capture at 23:30Z in summer belongs to the next Oslo ledger date
    assert world.ledger_date_of(oslo, datetime(2026, 7, 1, 23, 30, tzinfo=UTC)) == date(2026, 7, 2)
    # Copenhagen ledger 100002 runs 04:00 to 04:00
    assert world.ledger_date_of(
        world.ledgers["100002"], datetime(2026, 7, 2, 1, 0, tzinfo=UTC)
    ) == date(2026, 7, 1)
    for d in (date(2026, 10, 25), date(2026, 3, 29)):
        for e in world.day("100001", "funds", d).entries:
            t = datetime.fromisoformat(e["time"].replace("Z", "+00:00"))
            assert (
                world.ledger_date_of(oslo, t - timedelta(microseconds=1)) == d
                or t == world.window(oslo, d)[1]
            )


def test_open_and_future_dates(sim):
    world = sim.world
    assert world.status(world.ledgers["100001"], date(2026, 11, 22), NOW) == "closed"
    assert world.status(world.ledgers["100001"], date(2026, 11, 24), NOW) == "open"
    assert world.status(world.ledgers["100001"], date(2026, 11, 25), NOW) == "future"
    assert world.status(world.ledgers["100004"], date(2026, 11, 2), NOW) == "open"  # monthly
    assert world.status(world.ledgers["100004"], date(2026, 10, 31), NOW) == "closed"
    _, visible, try_later = world.served("100001", "funds", date(2026, 11, 24), NOW)
    assert try_later and 0 < visible < len(world.day("100001", "funds", date(2026, 11, 24)))


def test_large_day_pages_are_consistent_and_lazy():
    big = date(2026, 11, 10)
    world = World(seed=0, large_days={("100001", big): 1_000_000})
    for topic in ("funds", "fees"):
        day = world.day("100001", topic, big)
        assert len(day) in (1_000_001, 1_000_002)
        previous = None
        for start in (0, 96_999, 999_000, len(day) - 3):
            page = day.page(start, start + 1000)
            for i, e in enumerate(page):
                assert e["balanceBefore"] + e["amount"] == e["balanceAfter"]
                if i:
                    assert e["balanceBefore"] == page[i - 1]["balanceAfter"]
            previous = page
        assert previous[-1]["balanceAfter"] == 0
    funds_tail = world.day("100001", "funds", big).page(1_000_000, 1_000_002)
    fees_tail = world.day("100001", "fees", big).page(1_000_000, 1_000_001)
    assert funds_tail[0]["amount"] == -fees_tail[0]["amount"]  # fees-retained mirrored
    next_day = world.day("100001", "funds", big + timedelta(days=1)).entries
    assert next_day[0]["balanceBefore"] == 0


def test_large_day_memory_is_flat(sim):
    big = date(2026, 11, 10)
    sim.world.large_days[("100001", big)] = 200_000
    sim.faults.page_size = 1000
    # Serving a page never materialises the day: peak RSS grows by far less than the day's size.
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    day = sim.world.day("100001", "funds", big)
    for start in range(0, len(day), 20_000):
        day.page(start, start + 1000)
    after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    assert after - before < 50_000  # KiB; the whole day as dicts would be ~200 MB


def test_gdpr_fields_only_when_asked(sim, client):
    token = client.token()
    url = f"{sim.base_url}/report/v2/ledgers/100001/funds/dates/2026-11-20"
    headers = {
        "Authorization": f"Bearer {token}",
        "Ocp-Apim-Subscription-Key": "demo-subscription-key",
    }
    plain = requests.get(url, headers=headers, timeout=5).json()["items"]
    gdpr = requests.get(
        url, headers=headers, params={"includeGDPRSensitiveData": "true"}, timeout=5
    ).json()["items"]
    assert not any("name" in e for e in plain)
    assert any("name" in e and "maskedPhoneNo" in e and "message" in e for e in gdpr)


def test_token_endpoints_check_credentials(sim):
    r = requests.post(
        f"{sim.base_url}/accesstoken/get",
        headers={"client_id": "x", "client_secret": "y", "Ocp-Apim-Subscription-Key": "z"},
        timeout=5,
    )
    assert r.status_code == 401
    r = requests.post(
        f"{sim.base_url}/miami/v1/token",
        auth=("demo-partner-client", "demo-partner-secret"),
        data={"grant_type": "client_credentials"},
        headers={"Ocp-Apim-Subscription-Key": "k"},
        timeout=5,
    )
    assert r.status_code == 400, "partner tokens reject a subscription key"
    r = requests.post(
        f"{sim.base_url}/miami/v1/token",
        auth=("demo-partner-client", "demo-partner-secret"),
        data={"grant_type": "client_credentials"},
        timeout=5,
    )
    assert r.status_code == 200 and r.json()["expires_in"] == 900
    r = requests.get(f"{sim.base_url}/settlement/v1/ledgers", timeout=5)
    assert r.status_code == 401 and r.json() == {
        "code": "Unauthorized",
        "message": "Please check your API keys",
    }


# --- the feed ----------------------------------------------------------------------------------
def _feed(sim, client, ledger_id: str, topic: str = "funds", cursor: str | None = None, **params):
    """One raw feed answer (status, body), as the API sends it."""
    headers = {
        "Authorization": f"Bearer {client.token()}",
        "Ocp-Apim-Subscription-Key": "demo-subscription-key",
    }
    query = {**({"cursor": cursor} if cursor else {}), **params}
    r = requests.get(
        f"{sim.base_url}/report/v2/ledgers/{ledger_id}/{topic}/feed",
        headers=headers,
        params=query,
        timeout=5,
    )
    return r.status_code, r.json()


def _read_feed(sim, client, ledger_id: str, topic: str = "funds", cursor=None, limit=10_000):
    """Every page until ``tryLater``: (entries, last cursor, pages)."""
    entries, pages = [], []
    for _ in range(limit):
        status, body = _feed(sim, client, ledger_id, topic, cursor)
        assert status == 200, body
        assert isinstance(body["cursor"], str) and body["cursor"], "the cursor never empties"
        assert "hasMore" not in body, "the feed has no hasMore"
        pages.append(body)
        entries += body["items"]
        cursor = body["cursor"]
        if body["tryLater"]:
            return entries, cursor, pages
    raise AssertionError("the feed never caught up")


def test_the_feed_holds_each_closed_day_exactly_as_its_report(sim, client):
    """A ledger opened a month ago: read from the beginning, the feed is every report of every
    date in order, then today's entries so far; the monthly ledger's open dates included."""
    from dataclasses import replace

    start = date(2026, 10, 20)
    sim.world.ledgers = {lid: replace(s, start=start) for lid, s in sim.world.ledgers.items()}
    sim.faults.page_size = 50
    for ledger_id in ("100001", "100004", "100006"):
        for topic in ("funds", "fees"):
            entries, _, pages = _read_feed(sim, client, ledger_id, topic)
            expected = []
            for d in days(start, NOW.date()):
                day, visible, _ = sim.world.served(ledger_id, topic, d, NOW)
                assert visible == len(day) or d >= date(2026, 11, 1) or ledger_id == "100006"
                expected += day.entries[:visible]
            assert entries == [{k: v for k, v in e.items() if k not in GDPR} for e in expected]
            assert all(not p["tryLater"] for p in pages[:-1]) and len(pages) > 5


GDPR = ("name", "maskedPhoneNo", "message")


def test_new_entries_appear_on_the_feed_as_time_passes(sim, client):
    clock = [NOW]
    sim.clock = lambda: clock[0]
    _, cursor, _ = _read_feed(sim, client, "100002")
    status, body = _feed(sim, client, "100002", cursor=cursor)
    assert (status, body["items"], body["tryLater"], body["cursor"]) == (200, [], True, cursor)
    clock[0] = NOW + timedelta(hours=3)
    entries, _, _ = _read_feed(sim, client, "100002", cursor=cursor)
    spec = sim.world.ledgers["100002"]
    d = sim.world.ledger_date_of(spec, NOW)
    day = sim.world.day("100002", "funds", d)
    assert entries == [
        {k: v for k, v in e.items() if k not in GDPR}
        for e in day.entries[day.visible_count(NOW) : day.visible_count(clock[0])]
    ]
    assert entries, "three hours of a business day bring entries"


def test_the_feed_ends_with_an_empty_page_and_moves_its_cursor_without_data(sim, client):
    from dataclasses import replace

    sim.world.ledgers["100003"] = replace(sim.world.ledgers["100003"], start=date(2026, 11, 20))
    sim.faults.trailing_empty_page = True
    sim.faults.feed_empty_page_every = 3
    sim.faults.page_size = 10
    entries, _, pages = _read_feed(sim, client, "100003")
    assert pages[-1]["items"] == [] and pages[-1]["tryLater"]
    last = next(p for p in reversed(pages) if p["items"])
    assert not last["tryLater"], "the last page with entries asks for one more"
    empty = [p for p in pages[:-1] if not p["items"]]
    assert empty and all(not p["tryLater"] for p in empty)
    moved = {p["cursor"] for p in pages[:-1]}
    assert len(moved) == len(pages) - 1, "every page but the caught-up one moves the cursor"
    assert len(entries) == sum(
        sim.world.served("100003", "funds", d, NOW)[1] for d in days(date(2026, 11, 20), NOW.date())
    )


def test_the_feed_refuses_foreign_cursors_unknown_ledgers_and_forbidden_ones(sim, client):
    _, body = _feed(sim, client, "100001")
    assert _feed(sim, client, "100002", cursor=body["cursor"])[0] == 400
    assert _feed(sim, client, "100001", cursor="not-a-cursor")[0] == 400
    status, body = _feed(sim, client, "999999")
    assert status == 404 and body["detail"] == "No such ledgerId"
    sim.faults.forbidden_ledgers.add("100001")
    assert _feed(sim, client, "100001")[0] == 403
    _, plain = _feed(sim, client, "100002")
    _, gdpr = _feed(sim, client, "100002", includeGDPRSensitiveData="true")
    assert not any("name" in e for e in plain["items"])
    assert any("name" in e for e in gdpr["items"])


def test_prerendered_large_days_are_served_as_the_same_bytes_without_generating_them():
    big = date(2026, 11, 10)
    pages = {}
    for prerender in (False, True):
        world = World(seed=0, large_days={("100001", big): 2_500})
        with Simulator(world, clock=lambda: NOW, prerender=prerender) as sim:
            if prerender:
                assert sim.prerender() == 2 * 2_500 + 3  # both topics, with their tails
                world.day = None  # every page must now come from the stored bytes
            env = sim.env()
            client = ReportClient(ApiSettings.from_env(env))
            headers = {
                "Authorization": f"Bearer {client.token()}",
                "Ocp-Apim-Subscription-Key": env["VIPPS_SUBSCRIPTION_KEY"],
            }
            url = f"{sim.base_url}/report/v2/ledgers/100001/fees/dates/{big}"
            bodies, params = [], {}
            with requests.Session() as session:
                while True:
                    bodies.append(session.get(url, params=params, headers=headers).content)
                    page = json.loads(bodies[-1])
                    if not page["hasMore"]:
                        break
                    params = {"cursor": page["cursor"]}
            pages[prerender] = bodies
            assert sim.counters["entries_served"] == 2_501
    assert len(pages[True]) == 3 and pages[True] == pages[False]


def test_prerender_needs_the_switch():
    with Simulator(World(seed=0), clock=lambda: NOW) as sim, pytest.raises(RuntimeError):
        sim.prerender()
