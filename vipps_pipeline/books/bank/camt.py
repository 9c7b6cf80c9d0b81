"""ISO 20022 camt.053 (bank to customer statement), the versions Nordic banks send.

Read by element name whatever the version's namespace (001.02 and 001.08 differ in where a
status or a debtor's name sits, not in what the pipeline needs). Parsed with defusedxml and a
size bound: a document type declaration, entity or external reference is refused outright,
because a bank statement never needs one and a hostile file uses them to exhaust memory.
"""

from __future__ import annotations

from datetime import date
from xml.etree.ElementTree import Element

import defusedxml.ElementTree as safe_xml
from defusedxml import DefusedXmlException

from vipps_pipeline.books.bank.lines import (
    MAX_STATEMENT_BYTES,
    BadStatement,
    BankLine,
    parse_day,
    to_minor,
    with_keys,
)


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _child(node: Element | None, *path: str) -> Element | None:
    """The first element down ``path`` of local names (namespaces ignored)."""
    for name in path:
        if node is None:
            return None
        node = next((c for c in node if _local(c.tag) == name), None)
    return node


def _children(node: Element | None, name: str) -> list[Element]:
    return [] if node is None else [c for c in node if _local(c.tag) == name]


def _text_at(node: Element | None, *path: str) -> str | None:
    found = _child(node, *path)
    text = (found.text or "").strip() if found is not None else ""
    return text or None


def _all_text(node: Element, name: str) -> list[str]:
    return [t for e in node.iter() if _local(e.tag) == name and (t := (e.text or "").strip())]


def _when(node: Element | None, where: str) -> date | None:
    """A ``Dt`` or ``DtTm`` child's date."""
    text = _text_at(node, "Dt") or _text_at(node, "DtTm")
    return parse_day(text, where) if text else None


def is_camt053(data: bytes) -> bool:
    head = data[:2048].lstrip()
    return head.startswith(b"<") and b"camt.053" in head


def _account(stmt: Element) -> str | None:
    acct = _child(stmt, "Acct", "Id")
    return _text_at(acct, "IBAN") or _text_at(acct, "Othr", "Id")


def _bank_entry(entry: Element, account: str | None, where: str) -> BankLine | None:
    """One booked entry as a line; a pending or informational one is None."""
    status = _text_at(entry, "Sts") or _text_at(entry, "Sts", "Cd")
    if status and status != "BOOK":
        return None
    amt = _child(entry, "Amt")
    currency = amt.get("Ccy") if amt is not None else None
    if amt is None or not currency or not amt.text:
        raise BadStatement(f"{where}: an entry without Amt or its Ccy")
    amount = to_minor(amt.text, currency, where)
    sign = _text_at(entry, "CdtDbtInd")
    if sign not in ("CRDT", "DBIT"):
        raise BadStatement(f"{where}: CdtDbtInd is {sign!r}, not CRDT or DBIT")
    booked = _when(_child(entry, "BookgDt"), where)
    if booked is None:
        raise BadStatement(f"{where}: a booked entry without BookgDt")
    tx = _child(entry, "NtryDtls", "TxDtls")
    texts = _all_text(tx, "Ustrd") if tx is not None else []
    text = " ".join(texts) or _text_at(tx, "AddtlTxInf") or _text_at(entry, "AddtlNtryInf")
    dbtr = _child(tx, "RltdPties", "Dbtr")
    return {
        "account": account,
        "booking_date": booked,
        "value_date": _when(_child(entry, "ValDt"), where),
        "amount": amount if sign == "CRDT" else -amount,
        "currency": currency,
        "text": text,
        "debtor_name": _text_at(dbtr, "Nm") or _text_at(dbtr, "Pty", "Nm"),
        "bank_reference": _text_at(entry, "AcctSvcrRef"),
    }


def parse_camt053(data: bytes, source: str) -> list[BankLine]:
    """Every booked entry of every statement in the document, or :class:`BadStatement`."""
    if len(data) > MAX_STATEMENT_BYTES:
        raise BadStatement(f"{source}: larger than {MAX_STATEMENT_BYTES // 2**20} MiB")
    try:
        root = safe_xml.fromstring(data, forbid_dtd=True)
    except DefusedXmlException as exc:
        raise BadStatement(
            f"{source}: refused ({type(exc).__name__}: no DTD or entities)"
        ) from None
    except safe_xml.ParseError as exc:
        raise BadStatement(f"{source}: not well-formed XML ({exc})") from None
    if "camt.053" not in root.tag:
        raise BadStatement(f"{source}: not a camt.053 document (root {root.tag!r})")
    statements = _children(_child(root, "BkToCstmrStmt"), "Stmt")
    if not statements:
        raise BadStatement(f"{source}: no BkToCstmrStmt/Stmt in the document")
    out: list[BankLine] = []
    for s, stmt in enumerate(statements, 1):
        account = _account(stmt)
        lines = []
        for n, entry in enumerate(_children(stmt, "Ntry"), 1):
            line = _bank_entry(entry, account, f"{source}: statement {s} entry {n}")
            if line is not None:
                lines.append(line)
        start, to = _text_at(stmt, "FrToDt", "FrDtTm"), _text_at(stmt, "FrToDt", "ToDtTm")
        first = parse_day(start, source) if start else None
        covered = (
            parse_day(to, source) if to else max((ln["booking_date"] for ln in lines), default=None)
        )
        for line in lines:
            line["statement_from"], line["statement_to"] = first, covered
        out.extend(with_keys(lines))
    return out
