"""The value types of settings: each parses one variable's text and names it when it fails.

Kept apart from the declarations in :mod:`vipps_pipeline.settings` so that module reads as the
list of settings; these are the rules a value must follow. Every failure is a
:class:`SettingsError` whose one line names the variable (never a secret's value).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from datetime import date, datetime
from typing import Annotated, Any
from urllib.parse import urlparse
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    ValidationInfo,
)
from pydantic.fields import FieldInfo

PRODUCTION_BASE_URL = "https://api.vipps.no"
FIRST_API_DATE = date(2020, 5, 1)
HEADER_MAX_LEN = 30
LEDGER_ID_RE = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
SETTLEMENT_TYPES = ("net", "gross")


class SettingsError(ValueError):
    """A setting is missing or malformed; the message names it."""


def _named(parse: Callable[[str, str], Any], name: str | None = None) -> BeforeValidator:
    """A pydantic validator calling ``parse(text, variable)``; None (unset) stays None.

    The variable is ``VIPPS_<FIELD>`` unless ``name`` says otherwise."""

    def validate(value: Any, info: ValidationInfo) -> Any:
        if value is None or not isinstance(value, str):
            return value
        return parse(value, name or f"VIPPS_{(info.field_name or '').upper()}")

    return BeforeValidator(validate)


def parse_base_url(raw: str, name: str = "VIPPS_BASE_URL") -> str:
    parsed = urlparse(raw)
    if parsed.scheme not in {"http", "https"} or not parsed.netloc:
        raise SettingsError(
            f"{name} must be an http(s) URL such as {PRODUCTION_BASE_URL}, got {raw!r}"
        )
    return raw.rstrip("/")


def parse_timezone(raw: str, name: str = "VIPPS_TIMEZONE") -> str:
    try:
        ZoneInfo(raw)
    except (ZoneInfoNotFoundError, ValueError):
        raise SettingsError(
            f"{name} must be an IANA timezone such as Europe/Oslo, got {raw!r}"
        ) from None
    return raw


def parse_date(raw: str, name: str) -> date:
    try:
        return date.fromisoformat(raw)
    except ValueError:
        raise SettingsError(f"{name} must be a date YYYY-MM-DD, got {raw!r}") from None


def parse_start_date(raw: str, name: str = "VIPPS_START_DATE") -> date:
    start = parse_date(raw, name)
    if start < FIRST_API_DATE:
        raise SettingsError(
            f"{name} must be on or after {FIRST_API_DATE} (the API's first date), got {start}"
        )
    return start


def parse_now(raw: str, name: str = "VIPPS_NOW") -> datetime:
    try:
        value = datetime.fromisoformat(raw)
    except ValueError:
        raise SettingsError(
            f"{name} must be an ISO 8601 time such as 2026-11-24T12:00+00:00, got {raw!r}"
        ) from None
    if value.tzinfo is None:
        raise SettingsError(f"{name} must include a UTC offset, got {raw!r}")
    return value


def parse_key_type(raw: str, name: str = "VIPPS_KEY_TYPE") -> str:
    key_type = raw.lower()
    if key_type not in {"merchant", "partner"}:
        raise SettingsError(f"{name} must be 'merchant' or 'partner', got {key_type!r}")
    return key_type


def parse_boolean(raw: str, name: str) -> bool:
    text = raw.lower()
    if text in {"1", "true", "yes", "on"}:
        return True
    if text in {"0", "false", "no", "off"}:
        return False
    raise SettingsError(f"{name} must be true or false, got {text!r}")


def parse_header_text(raw: str, name: str) -> str:
    if len(raw) > HEADER_MAX_LEN:
        raise SettingsError(f"{name} must be at most {HEADER_MAX_LEN} characters, got {len(raw)}")
    if not raw.isprintable() or not raw.isascii():
        raise SettingsError(f"{name} must be printable ASCII")
    return raw


def parse_serial_number(raw: str, name: str) -> str:
    if not re.fullmatch(r"\d{1,10}", raw):
        raise SettingsError(f"{name} must be digits, got {raw!r}")
    return raw


def parse_schedule_time(raw: str, name: str) -> str:
    if not re.fullmatch(r"([01]?\d|2[0-3]):[0-5]\d", raw):
        raise SettingsError(f"{name} must be HH:MM, got {raw!r}")
    return raw


def parse_journal_detail(raw: str, name: str) -> str:
    detail = raw.lower()
    if detail not in {"type", "entry"}:
        raise SettingsError(f"{name} must be one of type, entry, got {detail!r}")
    return detail


def validate_ledger_id(ledger_id: object, where: str = "ledger id") -> str:
    """Ledger ids end up in URLs and file paths: only a safe alphabet gets through."""
    if not isinstance(ledger_id, str) or not LEDGER_ID_RE.match(ledger_id):
        raise SettingsError(
            f"{where} {ledger_id!r} is not a valid ledger id "
            "(1-64 characters of A-Z, a-z, 0-9, '_' and '-')"
        )
    return ledger_id


def parse_settlement(raw: str, name: str = "VIPPS_SETTLEMENT") -> dict[str, str]:
    """``LEDGER:net,LEDGER:gross``: the settlement type of a ledger, when learning it from the
    ledger's history is not wanted (a new ledger, or a change of agreement)."""
    out: dict[str, str] = {}
    for part in filter(None, (p.strip() for p in raw.split(","))):
        ledger_id, _, kind = part.partition(":")
        if kind not in SETTLEMENT_TYPES:
            raise SettingsError(
                f"{name} must list LEDGER:net or LEDGER:gross separated by commas, got {part!r}"
            )
        out[validate_ledger_id(ledger_id.strip(), f"{name} names ledger")] = kind
    return out


def check_header_secret(name: str, value: str | None) -> None:
    """One line naming ``name``, never the value: a trailing newline from a careless ``.env``
    is the usual culprit, and the header error it causes would echo the secret."""
    if value is not None and not (value.isascii() and value.isprintable()):
        raise SettingsError(
            f"{name} contains a control or non-ASCII character (often a trailing newline from "
            "a .env file); the value is not shown"
        )


BANK_CSV_FIELDS = ("booking_date", "amount", "currency", "text", "account")
"""What a bank's CSV export must say about each line, whatever its own column names."""


def parse_bank_csv_columns(raw: str, name: str = "VIPPS_BANK_CSV_COLUMNS") -> dict[str, str]:
    """``field=Column,...``: the bank's column name of each of :data:`BANK_CSV_FIELDS`; a
    field not named keeps its own name as the column's."""
    out = {f: f for f in BANK_CSV_FIELDS}
    for part in filter(None, (p.strip() for p in raw.split(","))):
        field, eq, column = part.partition("=")
        if not eq or field.strip() not in BANK_CSV_FIELDS or not column.strip():
            raise SettingsError(
                f"{name} must list field=Column pairs separated by commas, the fields among "
                f"{', '.join(BANK_CSV_FIELDS)}; got {part!r}"
            )
        out[field.strip()] = column.strip()
    return out


BaseUrl = Annotated[str, _named(parse_base_url)]
KeyType = Annotated[str, _named(parse_key_type)]
Boolean = Annotated[bool, _named(parse_boolean)]
HeaderText = Annotated[str, _named(parse_header_text)]
Timezone = Annotated[str, _named(parse_timezone)]
StartDate = Annotated[date, _named(parse_start_date)]
OptionalDate = Annotated[date | None, _named(parse_date)]
Now = Annotated[datetime | None, _named(parse_now, "VIPPS_NOW")]
Settlement = Annotated[dict[str, str], _named(parse_settlement)]
SerialNumber = Annotated[str | None, _named(parse_serial_number)]
ScheduleTime = Annotated[str, _named(parse_schedule_time)]
JournalDetail = Annotated[str, _named(parse_journal_detail)]
BankCsvColumns = Annotated[dict[str, str], _named(parse_bank_csv_columns)]


def setting(
    default: Any = ...,
    description: str = "",
    *,
    shown: str | None = None,
    env: str | None = None,
    run_knob: bool = False,
    **bounds: Any,
) -> Any:
    """A field that is one ``VIPPS_*`` variable: ``shown`` is the default as the docs show it,
    ``env`` the variable when it is not ``VIPPS_<FIELD>``; ``run_knob`` lets a run's config set
    it (bounded numbers only: see vipps_pipeline.defs.resources); ``bounds`` are pydantic's."""
    extra: dict[str, Any] = {k: v for k, v in {"shown": shown, "env": env}.items() if v}
    if run_knob:
        extra["run_knob"] = True
    return Field(default, description=description, json_schema_extra=extra, **bounds)


def env_name(name: str, info: FieldInfo) -> str:
    extra = info.json_schema_extra if isinstance(info.json_schema_extra, dict) else {}
    return str(extra.get("env") or f"VIPPS_{name.upper()}")


def is_secret(info: FieldInfo) -> bool:
    return info.annotation in (SecretStr, SecretStr | None)


class FromEnv(BaseModel):
    """Parse the model's variables from an environment mapping, with one-line errors."""

    model_config = ConfigDict(
        frozen=True, extra="forbid", validate_default=True, arbitrary_types_allowed=True
    )

    @classmethod
    def env_names(cls) -> dict[str, str]:
        """Field name -> variable name."""
        return {name: env_name(name, info) for name, info in cls.model_fields.items()}

    @classmethod
    def run_knobs(cls) -> tuple[str, ...]:
        """Fields a run's config may set: bounded numbers that send nothing anywhere."""
        return tuple(
            name
            for name, info in cls.model_fields.items()
            if isinstance(info.json_schema_extra, dict) and info.json_schema_extra.get("run_knob")
        )

    @classmethod
    def from_env(cls, env: Mapping[str, str | None]) -> Any:
        values: dict[str, str] = {}
        for field, var in cls.env_names().items():
            raw = env.get(var)
            if raw is None:
                continue
            if field in cls.header_secrets():  # before stripping: a trailing newline is refused
                check_header_secret(var, str(raw))
            if text := str(raw).strip():
                values[field] = text
        try:
            return cls.model_validate(values)
        except ValidationError as exc:
            raise SettingsError(cls._one_line(exc)) from None

    @classmethod
    def header_secrets(cls) -> tuple[str, ...]:
        return ()

    @classmethod
    def _one_line(cls, exc: ValidationError) -> str:
        """pydantic's first error, as the one line a person fixes the setting from."""
        err = exc.errors(include_url=False)[0]
        field = str(err["loc"][0]) if err["loc"] else ""
        info = cls.model_fields.get(field)
        var = env_name(field, info) if info else field
        kind, got = err["type"], err.get("input")
        shown = "" if info is None or is_secret(info) else f", got {got!r}"
        if kind == "value_error" and isinstance(err.get("ctx", {}).get("error"), SettingsError):
            return str(err["ctx"]["error"])
        if kind == "missing":
            return f"{var} is not set"
        if kind in {"int_parsing", "int_from_float", "int_type"}:
            return f"{var} must be a whole number{shown}"
        if kind in {"greater_than_equal", "less_than_equal"} and info is not None:
            lo, hi = _bounds(info)
            return f"{var} must be between {lo} and {hi}, got {got}"
        return f"{var}: {err['msg']}"


def _bounds(info: FieldInfo) -> tuple[Any, Any]:
    lo = next((m.ge for m in info.metadata if hasattr(m, "ge")), None)
    hi = next((m.le for m in info.metadata if hasattr(m, "le")), None)
    return lo, hi


def shown_default(info: FieldInfo) -> str:
    extra = info.json_schema_extra if isinstance(info.json_schema_extra, dict) else {}
    if "shown" in extra:
        return str(extra["shown"])
    return str(info.default).lower() if isinstance(info.default, bool) else str(info.default)
