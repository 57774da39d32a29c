"""Type raw source rows by the contract, or say why not.

Each cell is parsed by its column's kind (strings from CSV, or native values from
Parquet and BigQuery); a row with any unparseable cell, a missing required value or
an impossible combination is rejected with every reason found, and its raw values are
kept as JSON so nothing is lost. Checks that need the whole load or the database
(duplicate keys, unknown foreign keys) are the loader's, done set-based in SQL.

Reasons read ``<code>: <detail>`` so that counts can be grouped by code.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from functools import cache
from typing import Any

import numpy as np
import pandas as pd
import pycountry

from invest_assets.sources.schema import INDEXED_MAX_CHARS, Column, SourceTable

KEY_SEPARATOR = "|"
INT4_MAX = 2**31 - 1
INT8_MAX = 2**63 - 1
EARLIEST_DATE = date(1900, 1, 1)
_INTEGER = re.compile(r"[+-]?\d+")


class CellError(ValueError):
    """A cell that does not fit its column; the message is the reason."""


@dataclass
class Validated:
    """One chunk after validation: typed rows in ``stage_columns`` order, and rejects."""

    rows: list[tuple] = field(default_factory=list)
    rejects: list[tuple[str | None, str, str]] = field(default_factory=list)  # (source_id, reason, raw json)


def stage_columns(spec: SourceTable) -> list[Column]:
    """The typed columns staged after source_id: every other source column."""
    return [c for c in spec.columns if c.name != "source_id"]


def is_empty(value: Any) -> bool:
    if value is None or value is pd.NaT:
        return True
    if isinstance(value, float) and math.isnan(value):
        return True
    return isinstance(value, str) and value == ""


def _text(value: Any) -> str:
    text = value if isinstance(value, str) else str(value)
    if "\x00" in text:
        raise CellError("nul_byte: text contains a NUL byte, which PostgreSQL text cannot store")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise CellError("invalid_utf8: text is not valid UTF-8") from None
    return text


def _integer(value: Any) -> int:
    if isinstance(value, (bool, np.bool_)):
        raise CellError(f"not_integer: {value!r} is a boolean")
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        if float(value).is_integer():
            return int(value)
        raise CellError(f"not_integer: {value!r} has a fraction")
    text = _text(value).strip()
    if not _INTEGER.fullmatch(text):
        raise CellError(f"not_integer: {text[:80]!r}")
    return int(text)


def _int4(value: Any) -> int:
    number = _integer(value)
    if abs(number) > INT4_MAX:
        raise CellError(f"out_of_range: {number} does not fit a 32-bit integer")
    return number


def _usd(value: Any) -> int:
    number = _integer(value)
    if number < 0:
        raise CellError(f"impossible_value: negative amount {number}")
    if number > INT8_MAX:
        raise CellError(f"out_of_range: {number} does not fit a 64-bit integer")
    return number


def _date(value: Any) -> date:
    if isinstance(value, datetime):
        parsed = value.date()
    elif isinstance(value, date):
        parsed = value
    else:
        text = _text(value).strip()
        try:
            parsed = date.fromisoformat(text)
        except ValueError:
            raise CellError(f"not_date: {text[:80]!r} is not an ISO-8601 date") from None
    if parsed < EARLIEST_DATE:
        raise CellError(f"impossible_value: date {parsed} is before {EARLIEST_DATE}")
    return parsed


def _timestamp(value: Any) -> datetime:
    if isinstance(value, pd.Timestamp):
        parsed = value.to_pydatetime()
    elif isinstance(value, datetime):
        parsed = value
    else:
        text = _text(value).strip()
        try:
            parsed = datetime.fromisoformat(text)
        except ValueError:
            raise CellError(f"not_timestamp: {text[:80]!r} is not an ISO-8601 timestamp") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)


def _boolean(value: Any) -> bool:
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    text = _text(value).strip().lower()
    if text in ("true", "false"):
        return text == "true"
    raise CellError(f"not_boolean: {text[:80]!r} (expected true or false)")


def _text_list(value: Any) -> list[str]:
    if isinstance(value, str):
        try:
            value = json.loads(_text(value))
        except json.JSONDecodeError:
            raise CellError(f"not_list: {value[:80]!r} is not a JSON array") from None
    if isinstance(value, np.ndarray):
        value = value.tolist()
    if not isinstance(value, (list, tuple)):
        raise CellError(f"not_list: {str(value)[:80]!r} is not an array")
    items = []
    for item in value:
        if not isinstance(item, str) or item == "":
            raise CellError(f"not_list: array items must be non-empty strings, got {item!r}")
        items.append(_text(item))
    return items


PARSERS: dict[str, Callable[[Any], Any]] = {
    "text": _text,
    "int": _int4,
    "usd": _usd,
    "date": _date,
    "timestamp": _timestamp,
    "bool": _boolean,
    "list": _text_list,
}


@cache
def iso_country_codes() -> frozenset[str]:
    return frozenset(c.alpha_2 for c in pycountry.countries)


def parse_cell(column: Column, value: Any) -> Any:
    """The typed value of one cell (None for empty), or CellError naming the column."""
    if is_empty(value):
        if column.required:
            raise CellError(f"missing_value: {column.name} is required")
        return column.default
    try:
        parsed = PARSERS[column.kind](value)
    except CellError as err:
        code, _, detail = str(err).partition(": ")
        raise CellError(f"{code}: {column.name}: {detail}") from None
    if column.indexed:
        values = parsed if isinstance(parsed, list) else [parsed]
        too_long = [item for item in values if len(item) > INDEXED_MAX_CHARS]
        if too_long:
            raise CellError(
                f"out_of_range: {column.name}: a value of {len(too_long[0])} characters is longer than the "
                f"{INDEXED_MAX_CHARS} an indexed column takes"
            )
    if column.choices is not None and parsed not in column.choices:
        raise CellError(f"invalid_choice: {column.name}: {parsed[:80]!r} is not one of {sorted(column.choices)}")
    if column.iso_countries:
        unknown = [code for code in parsed if code not in iso_country_codes()]
        if unknown:
            raise CellError(f"invalid_country: {column.name}: {unknown[:5]} are not ISO-3166 alpha-2 codes")
    return parsed


def _check_size_problems(typed: dict[str, list]) -> dict[int, str]:
    lows, highs = typed.get("check_size_min_usd"), typed.get("check_size_max_usd")
    if lows is None or highs is None:
        return {}
    return {
        i: f"impossible_value: check_size_min_usd {low} > check_size_max_usd {high}"
        for i, (low, high) in enumerate(zip(lows, highs, strict=True))
        if low is not None and high is not None and low > high
    }


def _unsafe_text(series: pd.Series) -> pd.Series:
    """Which cells of a column of strings hold a NUL or an undecodable byte (a lone surrogate). Such cells are
    rare: one pass over the column's joined text clears a column that has none."""
    joined = "".join(series.dropna().tolist())
    try:
        joined.encode("utf-8")
        if "\x00" not in joined:
            return pd.Series(False, index=series.index)
    except UnicodeEncodeError:
        pass
    return series.str.contains("\x00|[\ud800-\udfff]", regex=True, na=False)


def _parse_column(column: Column, series: pd.Series, problems: dict[int, list[str]]) -> list[Any]:
    """Typed values of one column; failures are recorded by row position.

    Vectorized where it pays: empty cells take the default at once, plain text cells
    need no parsing unless they hold a NUL or undecodable byte, and each distinct string
    of the other kinds (lists, dates, amounts repeat a lot) is parsed once.
    """
    values = series.tolist()
    strings = pd.api.types.infer_dtype(series, skipna=True) == "string"
    # Compared in one pass when every cell is a string (or missing); a cell of another type (a list from
    # Parquet) would compare as an array.
    blank = (series == "") if strings else series.map(lambda v: isinstance(v, str) and v == "")
    empty = (series.isna() | blank).to_numpy()
    if column.required:
        for i in empty.nonzero()[0].tolist():
            problems.setdefault(i, []).append(f"missing_value: {column.name} is required")
    for i in empty.nonzero()[0].tolist():
        values[i] = column.default
    if column.kind == "text" and strings:
        suspects = _unsafe_text(series)
        if column.choices is not None:
            suspects |= ~series.isin(column.choices)
        if column.indexed:
            suspects |= series.str.len() > INDEXED_MAX_CHARS
        check = (suspects.to_numpy() & ~empty).nonzero()[0].tolist()
    else:
        check = (~empty).nonzero()[0].tolist()
    if strings:
        return _parse_distinct(
            column, values, series.to_numpy(dtype=object), np.asarray(check, dtype=np.int64), problems
        )
    for i in check:
        result = _parse_or_error(column, values[i])
        if isinstance(result, CellError):
            problems.setdefault(i, []).append(str(result))
            result = None
        values[i] = result
    return values


def _parse_distinct(
    column: Column, values: list[Any], cells: np.ndarray, check: np.ndarray, problems: dict[int, list[str]]
) -> list[Any]:
    """``values`` at positions ``check`` replaced by the typed values of those ``cells`` (strings), each
    distinct string parsed once."""
    codes, distinct = pd.factorize(cells[check])
    typed = np.empty(len(distinct), dtype=object)
    for code, value in enumerate(distinct):
        result = _parse_or_error(column, value)
        if isinstance(result, CellError):
            for i in check[codes == code].tolist():
                problems.setdefault(i, []).append(str(result))
            result = None
        typed[code] = result
    column_values = pd.Series(values, dtype=object)
    column_values.iloc[check] = typed[codes]
    return column_values.tolist()


def _parse_or_error(column: Column, value: Any) -> Any:
    """The typed value, or the CellError saying why not (so failures can be memoized)."""
    try:
        return parse_cell(column, value)
    except CellError as err:
        return err


def raw_json(row: dict[str, Any]) -> str:
    """The raw row as JSON text, byte-faithful: undecodable bytes are kept as hex."""

    def plain(value: Any) -> Any:
        if is_empty(value) and not isinstance(value, str):
            return None
        if isinstance(value, str):
            try:
                value.encode("utf-8")
            except UnicodeEncodeError:
                return {"invalid_utf8_hex": value.encode("utf-8", "surrogateescape").hex()}
            return value
        if isinstance(value, np.ndarray):
            return [plain(v) for v in value.tolist()]
        if isinstance(value, (list, tuple)):
            return [plain(v) for v in value]
        if isinstance(value, (np.integer, np.floating, np.bool_)):
            return value.item()
        if isinstance(value, (date, datetime, pd.Timestamp)):
            return value.isoformat()
        return value

    return json.dumps({k: plain(v) for k, v in row.items()}, ensure_ascii=True)


def source_keys(spec: SourceTable, typed: dict[str, list]) -> list[str | None]:
    parts = [typed[name] for name in spec.key_columns]
    return [None if any(p is None for p in key) else KEY_SEPARATOR.join(key) for key in zip(*parts, strict=True)]


def validate_chunk(spec: SourceTable, chunk: pd.DataFrame) -> Validated:
    """Type every row; valid ones become stage rows (source_id first), the rest rejects."""
    problems: dict[int, list[str]] = {}
    typed = {column.name: _parse_column(column, chunk[column.name], problems) for column in spec.columns}
    for i, problem in _check_size_problems(typed).items():
        problems.setdefault(i, []).append(problem)
    keys = source_keys(spec, typed)
    columns = [typed[c.name] for c in stage_columns(spec)]
    result = Validated()
    result.rows = [row for i, row in enumerate(zip(keys, *columns, strict=True)) if i not in problems]
    result.rejects = [
        (keys[i], "; ".join(reasons), raw_json(chunk.iloc[i].to_dict())) for i, reasons in sorted(problems.items())
    ]
    return result
