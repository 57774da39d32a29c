"""What the extraction asks (a versioned prompt kept in the package and a JSON schema) and how an
answer is checked before anything of it is written."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from pydantic import BaseModel, ConfigDict, ValidationError

from invest_assets.sources.schema import DIMENSIONS, dimension_column
from invest_assets.sources.validation import iso_country_codes

PROMPT_FILE = Path(__file__).with_name("prompts") / "thesis-v1.md"
PROMPT_VERSION = PROMPT_FILE.stem  # a changed prompt is a new file, and so a new version: every thesis re-extracts
MAX_DOCUMENT_CHARS = 60_000  # about 15,000 tokens of documents per investor; the rest is cut, and counted
_SNAKE = re.compile(r"^[a-z0-9]+(_[a-z0-9]+)*$")
TEXT_FIELDS = tuple(dimension_column(d, "text") for d in DIMENSIONS)


class ThesisAnswer(BaseModel):
    """The answer's shape; its JSON schema is what the model must follow (structured outputs, strict)."""

    model_config = ConfigDict(extra="forbid")

    sector_text: str | None
    stage_text: str | None
    check_text: str | None
    geography_text: str | None
    signal_text: str | None
    founder_text: str | None
    thesis_summary: str | None
    thesis_summary_long: str | None
    check_size_min_usd: int | None
    check_size_max_usd: int | None
    stages: list[str]
    sectors: list[str]
    geographies: list[str]


@cache
def response_format_schema() -> dict:
    return {"name": "investor_thesis", "strict": True, "schema": ThesisAnswer.model_json_schema()}


@cache
def system_prompt() -> str:
    return PROMPT_FILE.read_text()


@dataclass(frozen=True)
class Document:
    kind: str
    url: str
    text: str


def messages(name: str, documents: list[Document]) -> list[dict]:
    """The request for one investor: the prompt, then its documents (cut at MAX_DOCUMENT_CHARS)."""
    parts = [f"Investor: {name}"] + [f"## {d.kind}: {d.url}\n{d.text}" for d in documents]
    return [
        {"role": "system", "content": system_prompt()},
        {"role": "user", "content": "\n\n".join(parts)[:MAX_DOCUMENT_CHARS]},
    ]


class Rejected(ValueError):
    """An answer that cannot be written: the reason says why (it is quarantined with the raw answer)."""


@dataclass(frozen=True)
class Thesis:
    """A checked answer, as the investor's ``*_extracted`` columns and the summaries."""

    texts: dict[str, str | None]
    focus_sectors: list[str]
    preferred_stages: list[str]
    geographies: list[str]
    check_size_min_usd: int | None
    check_size_max_usd: int | None
    summary: str | None
    summary_long: str | None


def check(content: str | None) -> Thesis:
    """The thesis in ``content``, or Rejected naming the first problem."""
    if not content:
        raise Rejected("empty_answer: the model returned no content")
    try:
        answer = ThesisAnswer.model_validate(json.loads(content))
    except json.JSONDecodeError as err:
        raise Rejected(f"malformed_json: {err}") from None
    except ValidationError as err:
        first = err.errors()[0]
        raise Rejected(f"schema_violation: {'.'.join(map(str, first['loc']))}: {first['msg']}") from None
    geographies = sorted({code.strip().upper() for code in answer.geographies})
    unknown = [code for code in geographies if code not in iso_country_codes()]
    if unknown:
        raise Rejected(f"invalid_country: {unknown[:5]} are not ISO-3166 alpha-2 codes")
    low, high = answer.check_size_min_usd, answer.check_size_max_usd
    if (low is not None and low < 0) or (high is not None and high < 0):
        raise Rejected(f"impossible_value: a negative check size ({low}, {high})")
    if low is not None and high is not None and low > high:
        raise Rejected(f"impossible_value: check_size_min_usd {low} > check_size_max_usd {high}")
    labels = {"stages": answer.stages, "sectors": answer.sectors}
    for field, values in labels.items():
        bad = [v for v in values if not _SNAKE.match(v)]
        if bad:
            raise Rejected(f"invalid_label: {field}: {bad[:5]} are not lowercase snake_case names")
    return Thesis(
        texts={field: _text(getattr(answer, field)) for field in TEXT_FIELDS},
        focus_sectors=sorted(set(answer.sectors)),
        preferred_stages=sorted(set(answer.stages)),
        geographies=geographies,
        check_size_min_usd=low,
        check_size_max_usd=high,
        summary=_text(answer.thesis_summary),
        summary_long=_text(answer.thesis_summary_long),
    )


def _text(value: str | None) -> str | None:
    return value.strip() or None if value else None
