"""The matching rules, one at a time, on the FAQ's documented bank text."""

from __future__ import annotations

from datetime import date

from vipps_pipeline.books.bank.calendar import add_banking_days
from vipps_pipeline.books.bank.matching import Line, Payout, line_statuses, match

WED = date(2025, 4, 2)


def payout(n: int = 2000810, amount: int = 1_500_000, day: date = WED, **kw) -> Payout:
    return Payout("100001", day, f"100001-{n}", amount, "NOK", "NO", **kw)


def line(lid: str, day: date, amount: int = 1_500_000, text: str | None = None, **kw) -> Line:
    """A line of April's statement (unless ``start``/``to`` say another period)."""
    return Line(
        lid,
        day,
        amount,
        "NOK",
        text,
        statement_to=kw.pop("to", date(2025, 4, 30)),
        statement_from=kw.pop("start", date(2025, 4, 1)),
        **kw,
    )


def test_text_and_amount_match():
    (d,) = match([payout()], [line("a", date(2025, 4, 3), text="Utb. 2000810 Vippsnr 117703")], 3)
    assert (d.status, d.matched_by, d.line.line_id) == ("matched", "text", "a")


def test_text_matches_but_the_amount_does_not():
    (d,) = match([payout()], [line("a", date(2025, 4, 3), 1_499_900, "Utb. 2000810 Vippsnr 1")], 3)
    assert (d.status, d.line.amount) == ("amount_differs", 1_499_900)


def test_a_number_inside_a_longer_number_is_no_text_match():
    (d,) = match([payout()], [line("a", date(2025, 4, 3), 5, "Faktura 120008101")], 3)
    assert d.status == "missing"


def test_missing_text_falls_back_to_amount_within_the_banking_day_window():
    # Maundy Thursday, Good Friday and Easter Monday 2025 are Norwegian bank holidays
    wed = date(2025, 4, 16)
    due = add_banking_days(wed, 3, "NO")
    assert due == date(2025, 4, 24)
    (d,) = match([payout(day=wed)], [line("a", date(2025, 4, 23))], 3)
    assert (d.status, d.matched_by, d.due) == ("matched", "amount", due)
    (late,) = match([payout(day=wed)], [line("a", date(2025, 4, 25))], 3)
    assert late.status == "missing"  # outside the window, and the statement covers the due date


def test_not_due_or_not_covered_is_in_transit():
    (d,) = match([payout()], [line("x", WED, 7, to=date(2025, 4, 4))], 3)
    assert d.status == "in_transit"  # due 2025-04-07, the statement ends on the 4th
    (nothing,) = match([payout()], [], 3)
    assert nothing.status == "in_transit"


def test_a_payout_the_statements_do_not_wholly_cover_is_not_covered_never_missing():
    """Was: every payout older than the first statement imported was ``missing`` (only the
    statements' last date was known), a false alarm for each at a partner's first import."""
    march = payout(day=date(2025, 3, 26))  # due 2025-03-31, before April's statement
    straddles = payout(n=2000811, day=date(2025, 3, 28))  # may have arrived on 28-31 March
    (old, edge) = match([march, straddles], [line("x", WED, 7)], 3)
    assert (old.status, edge.status) == ("not_covered", "not_covered")
    march_statement = line("m", date(2025, 3, 3), 7, start=date(2025, 3, 1), to=date(2025, 3, 31))
    (old, edge) = match([march, straddles], [march_statement, line("x", WED, 7)], 3)
    assert (old.status, edge.status) == ("missing", "missing"), "March and April: no gap"
    may = line("y", date(2025, 5, 5), 7, start=date(2025, 5, 1), to=date(2025, 5, 31))
    (in_gap,) = match([payout()], [march_statement, may], 3)  # April not imported
    assert in_gap.status == "not_covered"


def test_a_statement_that_did_not_say_its_first_date_starts_at_its_first_booking():
    """A CSV export (or a line stored before the first date was kept) names no period start:
    the statement's earliest booking stands in for it, never an earlier date."""
    undated = [
        line("a", date(2025, 4, 3), 7, start=None),
        line("b", date(2025, 4, 9), 7, start=None),
    ]
    (early, later) = match([payout(), payout(n=2000812, day=date(2025, 4, 4))], undated, 3)
    assert (early.status, later.status) == ("not_covered", "missing")


def test_aborted_is_not_expected_and_its_line_is_unexpected():
    text = "Utb. 2000810 Vippsnr 117703"
    lines = [line("a", date(2025, 4, 3), text=text)]
    decisions = match([payout(aborted=True)], lines, 3)
    assert [d.status for d in decisions] == ["aborted"]
    assert line_statuses(lines, decisions) == {"a": ("unexpected", "")}


def test_one_bank_line_never_pays_two_payouts():
    twins = [payout(1, day=WED), payout(2, day=date(2025, 4, 3))]
    decisions = match(twins, [line("only", date(2025, 4, 4))], 3)
    assert [d.status for d in decisions] == ["matched", "missing"]
    assert decisions[0].payout.psp_reference == "100001-1"  # the oldest payout is served first


def test_text_match_wins_over_an_earlier_amount_match():
    a, b = payout(1, day=WED), payout(2, day=date(2025, 4, 3))
    lines = [line("l1", date(2025, 4, 4)), line("l2", date(2025, 4, 7), text="Utb. 1 Vippsnr 9")]
    found = {d.payout.psp_reference: d.line.line_id for d in match([a, b], lines, 3)}
    assert found == {"100001-1": "l2", "100001-2": "l1"}


def test_lines_from_the_vendor_that_match_nothing_are_unexpected_the_rest_other():
    lines = [
        line("by-name", WED, 5, "Korreksjon", debtor_name="Vipps MobilePay AS"),
        line("by-text", WED, 6, "Utb. 1999 Vippsnr 117703"),
        line("rent", WED, -100, "Husleie"),
        line("card", WED, 7, "Kortoppgjør", debtor_name="Nets"),
    ]
    statuses = line_statuses(lines, match([], lines, 3))
    assert {k: s for k, (s, _) in statuses.items()} == {
        "by-name": "unexpected",
        "by-text": "unexpected",
        "rent": "other",
        "card": "other",
    }


def test_coverage_follows_the_payout_account_when_known():
    p = payout(account_hint="7947")
    other = Line("o", WED, 1, "NOK", None, None, "1111", date(2025, 4, 30))
    mine = Line("m", WED, 1, "NOK", None, None, "86011117947", date(2025, 4, 4))
    (d,) = match([p], [other, mine], 3)
    assert d.status == "in_transit"  # its own account's statement does not reach the due date
