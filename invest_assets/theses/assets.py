"""``investor_theses``: each investor's thesis, extracted by a language model from its documents
(``investor_documents``) into ``investors.<field>_extracted``, which serve where the source states
nothing and before the graph-derived values (migration 0044).

Memoized by content: an investor is sent again only when the hash of its live documents, the
prompt version or the model differs from its last extraction, so a rerun with nothing changed sends
nothing, and a changed document re-extracts that investor alone. An answer is checked before any of
it is written (``extraction.check``): a rejected one goes to ``quarantine`` with the reason and the
raw answer, a refusal is recorded as one, and either keeps the investor's earlier extracted values.
Each chunk of answers is written in one transaction, so a killed run keeps what it committed and
its rerun sends only the rest. A served text that changes makes that dimension's vector stale, and
the stale-embeddings sensor re-embeds only it.
"""

import json
import time
from collections.abc import Iterator

import psycopg
from dagster import AssetExecutionContext, Failure, MaterializeResult, asset

from invest_assets import settings
from invest_assets.metadata import PREVIEW_ROWS, preview
from invest_assets.policies import DATABASE_RETRY, REFRESH_AFTER_INPUTS_CHANGE
from invest_assets.resources.database import AlloyDBResource
from invest_assets.resources.embedders import cl100k
from invest_assets.resources.extractors import ChatAnswer, ExtractionError, ExtractorResource
from invest_assets.resources.usage import BudgetExceeded, check_budget, record_usage
from invest_assets.theses.extraction import (
    PROMPT_VERSION,
    TEXT_FIELDS,
    Document,
    Rejected,
    check,
    messages,
    response_format_schema,
)

CHUNK_INVESTORS = 100
ANSWER_TOKENS_ESTIMATE = 600  # a thesis answer in the schema is a few hundred tokens; the estimate errs high

PENDING = """
WITH documents AS (
  SELECT investor_id,
         md5(string_agg(kind || E'\\x1f' || url || E'\\x1f' || text, E'\\x1e' ORDER BY source_id)) AS documents_hash,
         jsonb_agg(jsonb_build_object('kind', kind, 'url', url, 'text', text) ORDER BY source_id) AS documents
  FROM investor_documents WHERE deleted_at IS NULL GROUP BY investor_id
)
SELECT v.id, v.source_id, v.name, d.documents_hash, d.documents
FROM documents d JOIN investors v ON v.id = d.investor_id AND v.deleted_at IS NULL
LEFT JOIN investor_theses t ON t.investor_id = v.id
WHERE t.investor_id IS NULL
   OR (t.documents_hash, t.prompt_version, t.model) IS DISTINCT FROM (d.documents_hash, %(prompt)s, %(model)s)
ORDER BY v.id
"""

EXTRACTED_COLUMNS = (
    *TEXT_FIELDS,
    "focus_sectors",
    "preferred_stages",
    "geographies",
    "check_size_min_usd",
    "check_size_max_usd",
)
_TYPES = {"focus_sectors": "text[]", "preferred_stages": "text[]", "geographies": "text[]"}
_RECORD = ", ".join(
    f"{c} {_TYPES.get(c, 'bigint' if c.startswith('check_size') else 'text')}" for c in EXTRACTED_COLUMNS
)

# Investors whose documents are all gone lose their extraction: the derived values serve again.
CLEAR_WITHOUT_DOCUMENTS = f"""
WITH gone AS (
  DELETE FROM investor_theses t
  WHERE NOT EXISTS (SELECT 1 FROM investor_documents d WHERE d.investor_id = t.investor_id AND d.deleted_at IS NULL)
  RETURNING investor_id
)
UPDATE investors v SET {", ".join(f"{c}_extracted = NULL" for c in EXTRACTED_COLUMNS)}
FROM gone WHERE v.id = gone.investor_id
"""

WRITE_EXTRACTED = f"""
UPDATE investors v SET {", ".join(f"{c}_extracted = t.{c}" for c in EXTRACTED_COLUMNS)}
FROM jsonb_to_recordset(%s::jsonb) AS t(investor_id bigint, {_RECORD})
WHERE v.id = t.investor_id
  AND ({", ".join(f"v.{c}_extracted" for c in EXTRACTED_COLUMNS)})
      IS DISTINCT FROM ({", ".join(f"t.{c}" for c in EXTRACTED_COLUMNS)})
"""

WRITE_MEMO = """
INSERT INTO investor_theses AS m (investor_id, documents_hash, prompt_version, model, status, reason, answer,
                                  summary, summary_long, prompt_tokens, output_tokens, extracted_at)
SELECT investor_id, documents_hash, prompt_version, model, status, reason, answer, summary, summary_long,
       prompt_tokens, output_tokens, now()
FROM jsonb_to_recordset(%s::jsonb) AS t(investor_id bigint, documents_hash text, prompt_version text, model text,
                                        status text, reason text, answer jsonb, summary text, summary_long text,
                                        prompt_tokens int, output_tokens int)
ON CONFLICT (investor_id) DO UPDATE SET
  documents_hash = EXCLUDED.documents_hash, prompt_version = EXCLUDED.prompt_version, model = EXCLUDED.model,
  status = EXCLUDED.status, reason = EXCLUDED.reason, answer = EXCLUDED.answer,
  summary = CASE WHEN EXCLUDED.status = 'extracted' THEN EXCLUDED.summary ELSE m.summary END,
  summary_long = CASE WHEN EXCLUDED.status = 'extracted' THEN EXCLUDED.summary_long ELSE m.summary_long END,
  prompt_tokens = EXCLUDED.prompt_tokens, output_tokens = EXCLUDED.output_tokens, extracted_at = now()
"""

QUARANTINE = """
INSERT INTO quarantine (table_name, source_id, reason, raw, run_id)
SELECT 'investor_theses', source_id, reason, raw, %s
FROM jsonb_to_recordset(%s::jsonb) AS t(source_id text, reason text, raw json)
"""

THESES_PREVIEW = """
SELECT v.source_id AS investor, t.status, left(coalesce(t.summary, t.reason), 100) AS summary,
       t.prompt_version, t.model, v.provenance::text AS provenance
FROM investor_theses t JOIN investors v ON v.id = t.investor_id
ORDER BY t.extracted_at DESC, t.investor_id LIMIT %s
"""


class Tally:
    """What a run sent and what came of it."""

    def __init__(self):
        self.counts = dict.fromkeys(("extracted", "refused", "rejected", "failed"), 0)
        self.prompt_tokens = self.output_tokens = 0
        self.errors: list[str] = []

    def add(self, status: str, answer: ChatAnswer | None) -> None:
        self.counts[status] += 1
        if answer is not None:
            self.prompt_tokens += answer.prompt_tokens
            self.output_tokens += answer.output_tokens


def estimate_usd(extractor: ExtractorResource, pending: list) -> float:
    """The run's cost before it is sent: its prompts' counted tokens (cl100k, close to the chat
    models' own encoding) and ANSWER_TOKENS_ESTIMATE output tokens an answer."""
    encoding = cl100k()
    prompt_tokens = sum(
        len(encoding.encode_ordinary(message["content"]))
        for _, _, name, _, documents in pending
        for message in messages(name, [Document(**d) for d in documents])
    )
    return extractor.cost_usd(prompt_tokens, ANSWER_TOKENS_ESTIMATE * len(pending))


def _chunks(rows: list, size: int) -> Iterator[list]:
    for start in range(0, len(rows), size):
        yield rows[start : start + size]


def extract_chunk(conn: psycopg.Connection, extractor: ExtractorResource, chunk: list, run_id: str, tally: Tally):
    """Ask for the chunk's investors and write what came back in one transaction."""
    requests = [messages(name, [Document(**d) for d in documents]) for _, _, name, _, documents in chunk]
    memo, extracted, quarantined = [], [], []

    def record(position: int, answer: ChatAnswer | ExtractionError) -> None:
        investor_id, source_id, _, documents_hash, _ = chunk[position]
        if isinstance(answer, ExtractionError):  # not memoized: the next run asks again
            tally.add("failed", None)
            tally.errors.append(f"{source_id}: {answer}")
            return
        row = {
            "investor_id": investor_id,
            "documents_hash": documents_hash,
            "prompt_version": PROMPT_VERSION,
            "model": extractor.model,
            "answer": {"content": answer.content},
            "prompt_tokens": answer.prompt_tokens,
            "output_tokens": answer.output_tokens,
        }
        if answer.refusal:
            tally.add("refused", answer)
            memo.append({**row, "status": "refused", "reason": answer.refusal, "answer": {"refusal": answer.refusal}})
            return
        try:
            thesis = check(answer.content)
        except Rejected as rejected:
            tally.add("rejected", answer)
            memo.append({**row, "status": "rejected", "reason": str(rejected)})
            quarantined.append({"source_id": source_id, "reason": str(rejected), "raw": row["answer"]})
            return
        tally.add("extracted", answer)
        memo.append(
            {
                **row,
                "status": "extracted",
                "answer": json.loads(answer.content),
                "summary": thesis.summary,
                "summary_long": thesis.summary_long,
            }  # fmt: skip
        )
        extracted.append(
            {
                "investor_id": investor_id,
                **thesis.texts,
                "focus_sectors": thesis.focus_sectors or None,
                "preferred_stages": thesis.preferred_stages or None,
                "geographies": thesis.geographies or None,
                "check_size_min_usd": thesis.check_size_min_usd,
                "check_size_max_usd": thesis.check_size_max_usd,
            }
        )

    extractor.answer_all(requests, response_format_schema(), record)
    with conn.transaction():  # the answers and what they cost, together
        if memo:
            prompt_tokens, output_tokens = (sum(row[k] for row in memo) for k in ("prompt_tokens", "output_tokens"))
            record_usage(
                conn,
                extractor.model,
                "extraction",
                requests=len(memo),
                input_tokens=prompt_tokens,
                output_tokens=output_tokens,
                cost_usd=extractor.cost_usd(prompt_tokens, output_tokens),
            )
        if extracted:
            conn.execute(WRITE_EXTRACTED, (json.dumps(extracted),))
        if memo:
            conn.execute(WRITE_MEMO, (json.dumps(memo),))
        if quarantined:
            conn.execute(QUARANTINE, (run_id, json.dumps(quarantined)))


@asset(
    deps=["investor_documents", "investors"],
    group_name="profiles",
    kinds={"postgres", "openai"},
    owners=["team:data-platform"],
    retry_policy=DATABASE_RETRY,
    automation_condition=REFRESH_AFTER_INPUTS_CHANGE,
    description="investors.<dim>_text_extracted for the six dimensions and the typed preferences (_extracted), "
    "extracted by a chat model (INVEST_EXTRACTOR=openai) from each investor's documents, one request per "
    "investor whose documents, prompt version or model changed; answers that break the schema are "
    "quarantined. What serves: the source's value, else the extracted, else the graph-derived.",
)
def investor_theses(
    context: AssetExecutionContext, database: AlloyDBResource, extractor: ExtractorResource
) -> MaterializeResult:
    started = time.monotonic()
    tally = Tally()
    with database.connection() as conn:
        cleared = conn.execute(CLEAR_WITHOUT_DOCUMENTS).rowcount
        pending = conn.execute(PENDING, {"prompt": PROMPT_VERSION, "model": extractor.model}).fetchall()
        if extractor.enabled:
            if settings.OPENAI_MAX_USD_PER_RUN.is_set():
                try:
                    check_budget(estimate_usd(extractor, pending), f"extracting {len(pending)} theses")
                except BudgetExceeded as over:  # deterministic: a retry would refuse again
                    raise Failure(str(over), allow_retries=False) from None
            for chunk in _chunks(pending, CHUNK_INVESTORS):
                extract_chunk(conn, extractor, chunk, context.run_id, tally)
        with_documents = conn.execute(
            "SELECT count(DISTINCT investor_id) FROM investor_documents WHERE deleted_at IS NULL"
        ).fetchone()[0]
        rows_preview = preview(conn, THESES_PREVIEW, (PREVIEW_ROWS,))
    metadata = {
        "dagster/row_count": with_documents,
        "extractor": extractor.provider,
        "model": extractor.model,
        "prompt_version": PROMPT_VERSION,
        "investors_to_extract": len(pending),
        **tally.counts,
        "cleared_without_documents": cleared,
        "requests": sum(tally.counts.values()) if extractor.enabled else 0,
        "prompt_tokens": tally.prompt_tokens,
        "output_tokens": tally.output_tokens,
        "cost_usd": extractor.cost_usd(tally.prompt_tokens, tally.output_tokens),
        "seconds": round(time.monotonic() - started, 2),
        "theses": rows_preview,
    }
    context.log.info(f"investor_theses ({extractor.provider}, {PROMPT_VERSION}): {metadata}")
    if tally.errors:
        raise Failure(
            f"{len(tally.errors)} of {len(pending)} extraction requests failed after the client's retries "
            f"(the other answers are written; a rerun asks only for these): {tally.errors[:3]}",
            metadata={k: v for k, v in metadata.items() if k != "theses"},
            allow_retries=False,  # the client has retried with backoff; the next run asks for these again
        )
    if not extractor.enabled and pending:
        context.log.info(f"{len(pending)} investors have documents to extract; INVEST_EXTRACTOR=none leaves them")
    return MaterializeResult(metadata=metadata)
