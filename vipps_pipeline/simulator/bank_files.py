"""The simulated bank's statement files, as the merchant's bank would deliver them.

Norwegian accounts get camt.053.001.02 without the bank's entry reference, Finnish ones
camt.053.001.08 with it, Danish ones a CSV export (semicolons, decimal commas, the default
columns). Statements are monthly and overlap the next month by a few days, as a re-sent or
ad-hoc statement does, so importing all of them must store each line once.
"""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path
from xml.sax.saxutils import escape

from vipps_pipeline.domain import minor_to_text
from vipps_pipeline.simulator.bank import SimBankLine

OVERLAP_DAYS = 3
CAMT_VERSION = {"NO": "001.02", "FI": "001.08"}
"""Which camt.053 version the simulated banks of each country send; others send CSV."""


def _periods(start: date, until: date) -> list[tuple[date, date]]:
    """Monthly statements from ``start``, each overlapping the next by a few days."""
    out = []
    first = start
    while first <= until:
        nxt = date(first.year + (first.month == 12), first.month % 12 + 1, 1)
        out.append((first, min(until, nxt - timedelta(days=1) + timedelta(days=OVERLAP_DAYS))))
        first = nxt
    return out


def _camt_entry(line: SimBankLine, ref: str | None, v08: bool) -> str:
    amount = minor_to_text(abs(line.amount), line.currency)
    status = "<Sts><Cd>BOOK</Cd></Sts>" if v08 else "<Sts>BOOK</Sts>"
    debtor = escape(line.debtor)
    party = (
        f"<Dbtr><Pty><Nm>{debtor}</Nm></Pty></Dbtr>" if v08 else f"<Dbtr><Nm>{debtor}</Nm></Dbtr>"
    )
    related = f"<RltdPties>{party}</RltdPties>" if line.debtor else ""
    text = f"<RmtInf><Ustrd>{escape(line.text)}</Ustrd></RmtInf>" if line.text else ""
    return (
        f'<Ntry><Amt Ccy="{line.currency}">{amount}</Amt>'
        f"<CdtDbtInd>{'CRDT' if line.amount > 0 else 'DBIT'}</CdtDbtInd>{status}"
        f"<BookgDt><Dt>{line.booking_date}</Dt></BookgDt><ValDt><Dt>{line.booking_date}</Dt></ValDt>"
        + (f"<AcctSvcrRef>{ref}</AcctSvcrRef>" if ref else "")
        + f"<NtryDtls><TxDtls>{related}{text}</TxDtls></NtryDtls></Ntry>"
    )


def camt053(lines: list[SimBankLine], account: str, period: tuple[date, date], version: str,
            refs: dict[int, str]) -> str:  # fmt: skip
    """One statement; ``refs`` gives the bank's entry reference by ``id(line)`` (001.08)."""
    v08 = version == "001.08"
    ident = f"<IBAN>{account}</IBAN>" if account[:2].isalpha() else (
        f"<Othr><Id>{account}</Id><SchmeNm><Cd>BBAN</Cd></SchmeNm></Othr>"
    )  # fmt: skip
    currency = lines[0].currency if lines else "NOK"
    body = "".join(_camt_entry(ln, refs.get(id(ln)) if v08 else None, v08) for ln in lines)
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f'<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.053.{version}"><BkToCstmrStmt>'
        f"<GrpHdr><MsgId>{account}-{period[0]}</MsgId><CreDtTm>{period[1]}T23:00:00</CreDtTm>"
        f"</GrpHdr><Stmt><Id>{account}-{period[0]}</Id><CreDtTm>{period[1]}T23:00:00</CreDtTm>"
        f"<FrToDt><FrDtTm>{period[0]}T00:00:00</FrDtTm><ToDtTm>{period[1]}T23:59:59</ToDtTm>"
        f"</FrToDt><Acct><Id>{ident}</Id><Ccy>{currency}</Ccy></Acct>{body}</Stmt>"
        "</BkToCstmrStmt></Document>\n"
    )


def csv_text(lines: list[SimBankLine]) -> str:
    rows = ["booking_date;amount;currency;text;account"]
    for ln in lines:
        amount = minor_to_text(ln.amount, ln.currency).replace(".", ",")
        text = ln.text.replace(";", " ").replace('"', "")
        rows.append(f"{ln.booking_date:%d.%m.%Y};{amount};{ln.currency};{text};{ln.account}")
    return "\n".join(rows) + "\n"


def write_bank_files(
    lines: list[SimBankLine], folder: Path, countries: dict[str, str], start: date, until: date
) -> list[Path]:
    """Every account's monthly statements into ``folder``; ``countries`` maps an account to
    its country (which decides the format). Returns the files written."""
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for account in sorted({ln.account for ln in lines}):
        mine = [ln for ln in lines if ln.account == account]
        refs = {
            id(ln): f"{account[-4:]}{ln.booking_date:%y%m%d}{k:05d}" for k, ln in enumerate(mine)
        }
        version = CAMT_VERSION.get(countries.get(account, ""))
        for period in _periods(start, until):
            part = [ln for ln in mine if period[0] <= ln.booking_date <= period[1]]
            stem = f"{account}-{period[0]:%Y-%m}"
            if version:
                path = folder / f"{stem}.camt053.xml"
                path.write_text(camt053(part, account, period, version, refs), encoding="utf-8")
            else:
                path = folder / f"{stem}.csv"
                path.write_text(csv_text(part), encoding="utf-8")
            written.append(path)
    return written
