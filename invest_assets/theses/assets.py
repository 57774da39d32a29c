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

Large runs go through OpenAI's Batch API (``use_batch``): the requests are uploaded as JSONL files,
each recorded in ``openai_batches`` before its batch starts, so a run killed while waiting is
resumed by the next without paying twice; failed lines are asked again one by one.
"""

import json
import time
from collections.abc import Iterator

import psycopg
from dagster import AssetExecutionContext, Failure, MaterializeResult, asset

from invest_assets import settings
from invest_assets.metadata import PREVIEW_ROWS, preview
from invest_assets.policies import DATABASE_RETRY, REFRESH_AFTER_INPUTS_CHANGE, SINGLE_RUN
from invest_assets.resources.database import AlloyDBResource
from invest_assets.resources.embedders import cl100k
from invest_assets.resources.extractors import ChatAnswer, ExtractionError, ExtractorResource
from invest_assets.resources.openai_client import (
    BATCH_MAX_REQUESTS,
    batches_in_flight,
    finished_batch,
    mark_applied,
    record_batch_file,
    use_batch,
)
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
        self.batches = 0
        self.cost_usd = 0.0

    def add(self, status: str, answer: ChatAnswer | None) -> None:
        self.counts[status] += 1
        if answer is not None:
            self.prompt_tokens += answer.prompt_tokens
            self.output_tokens += answer.output_tokens


def estimate_usd(extractor: ExtractorResource, pending: list, batch: bool) -> float:
    """The run's cost before it is sent: its prompts' counted tokens (cl100k, close to the chat
    models' own encoding) and ANSWER_TOKENS_ESTIMATE output tokens an answer."""
    encoding = cl100k()
    prompt_tokens = sum(
        len(encoding.encode_ordinary(message["content"]))
        for _, _, name, _, documents in pending
        for message in messages(name, [Document(**d) for d in documents])
    )
    return extractor.cost_usd(prompt_tokens, ANSWER_TOKENS_ESTIMATE * len(pending), batch=batch)


def _chunks(rows: list, size: int) -> Iterator[list]:
    for start in range(0, len(rows), size):
        yield rows[start : start + size]


class Answers:
    """Answers for some waiting investors, checked, then written in one transaction with their cost."""

    def __init__(self, extractor: ExtractorResource, tally: Tally, batch: bool = False):
        self.extractor, self.tally, self.batch = extractor, tally, batch
        self.memo, self.extracted, self.quarantined = [], [], []

    def add(self, waiting: tuple, answer: ChatAnswer | ExtractionError) -> None:
        investor_id, source_id, _, documents_hash, _ = waiting
        if isinstance(answer, ExtractionError):  # not memoized: the next run asks again
            self.tally.add("failed", None)
            self.tally.errors.append(f"{source_id}: {answer}")
            return
        row = {
            "investor_id": investor_id,
            "documents_hash": documents_hash,
            "prompt_version": PROMPT_VERSION,
            "model": self.extractor.model,
            "answer": {"content": answer.content},
            "prompt_tokens": answer.prompt_tokens,
            "output_tokens": answer.output_tokens,
        }
        if answer.refusal:
            self.tally.add("refused", answer)
            self.memo.append(
                {**row, "status": "refused", "reason": answer.refusal, "answer": {"refusal": answer.refusal}}
            )
            return
        try:
            thesis = check(answer.content)
        except Rejected as rejected:
            self.tally.add("rejected", answer)
            self.memo.append({**row, "status": "rejected", "reason": str(rejected)})
            self.quarantined.append({"source_id": source_id, "reason": str(rejected), "raw": row["answer"]})
            return
        self.tally.add("extracted", answer)
        self.memo.append(
            {
                **row,
                "status": "extracted",
                "answer": json.loads(answer.content),
                "summary": thesis.summary,
                "summary_long": thesis.summary_long,
            }
        )
        self.extracted.append(
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

    def write(self, conn: psycopg.Connection, run_id: str) -> None:
        """Inside the caller's transaction: the answers and what they cost, together."""
        if self.memo:
            prompt_tokens, output_tokens = (
                sum(row[k] for row in self.memo) for k in ("prompt_tokens", "output_tokens")
            )
            cost_usd = self.extractor.cost_usd(prompt_tokens, output_tokens, batch=self.batch)
            record_usage(
                conn,
                self.extractor.model,
                "extraction",
                requests=len(self.memo),
                input_tokens=prompt_tokens,
                output_tokens=output_tokens,
                cost_usd=cost_usd,
            )
            self.tally.cost_usd += cost_usd
            conn.execute(WRITE_MEMO, (json.dumps(self.memo),))
        if self.extracted:
            conn.execute(WRITE_EXTRACTED, (json.dumps(self.extracted),))
        if self.quarantined:
            conn.execute(QUARANTINE, (run_id, json.dumps(self.quarantined)))


def _request(waiting: tuple) -> list[dict]:
    _, _, name, _, documents = waiting
    return messages(name, [Document(**d) for d in documents])


def extract_chunk(conn: psycopg.Connection, extractor: ExtractorResource, chunk: list, run_id: str, tally: Tally):
    """Ask for the chunk's investors one request each and write what came back in one transaction."""
    conn.commit()  # no transaction held open while the model answers
    answers = Answers(extractor, tally)
    extractor.answer_all(
        [_request(w) for w in chunk], response_format_schema(), lambda i, answer: answers.add(chunk[i], answer)
    )
    with conn.transaction():
        answers.write(conn, run_id)


# --- The Batch API -------------------------------------------------------------------------------


def _custom_id(waiting: tuple) -> str:
    investor_id, _, _, documents_hash, _ = waiting
    return f"{investor_id}:{documents_hash}"


def submit_batches(conn: psycopg.Connection, extractor: ExtractorResource, pending: list) -> None:
    """Upload the waiting requests (at most BATCH_MAX_REQUESTS a file) and record each file before its
    batch is started, so that no run can start a batch nobody knows of."""
    schema = response_format_schema()
    for part in _chunks(pending, BATCH_MAX_REQUESTS):
        lines = [{"custom_id": _custom_id(w), "body": extractor.request_body(_request(w), schema)} for w in part]
        record_batch_file(
            conn, "extraction", extractor.model, extractor.upload_batch(lines), len(part), prompt_version=PROMPT_VERSION
        )
        conn.commit()


def finish_batches(conn: psycopg.Connection, extractor: ExtractorResource, pending: list, run_id: str, tally: Tally):
    """Start, wait for and apply every batch not yet applied (this run's, or one a killed run left).
    Answers are written only for investors still waiting with the key they were asked with; failed
    lines stay waiting, and the run asks for them one by one afterwards."""
    waiting = {_custom_id(w): w for w in pending}
    for row_id, input_file_id, batch_id, model, prompt_version in batches_in_flight(conn, "extraction"):
        batch_id, state = finished_batch(conn, extractor, row_id, input_file_id, batch_id)
        if state.status == "failed":  # OpenAI rejected the whole file: nothing was answered or billed
            mark_applied(conn, row_id, "failed")
            conn.commit()
            raise Failure(f"OpenAI batch {batch_id} failed as a whole; the next run submits its requests again")
        current = (model, prompt_version) == (extractor.model, PROMPT_VERSION)  # else every answer is outdated
        answers = Answers(extractor, tally, batch=True)
        for line in extractor.batch_lines(state.output_file_id):
            response = line.get("response") or {}
            if current and line["custom_id"] in waiting and response.get("status_code") == 200:
                answers.add(waiting.pop(line["custom_id"]), ChatAnswer.of(response["body"]))
        with conn.transaction():
            answers.write(conn, run_id)
            mark_applied(conn, row_id, state.status)
        tally.batches += 1


def extract(conn: psycopg.Connection, extractor: ExtractorResource, pending: list, context, tally: Tally) -> None:
    """Everything waiting: through batches when there are many (or one is in flight), the rest one by one."""
    batch = use_batch(len(pending))
    if settings.OPENAI_MAX_USD_PER_RUN.is_set():
        try:
            check_budget(estimate_usd(extractor, pending, batch), f"extracting {len(pending)} theses")
        except BudgetExceeded as over:  # deterministic: a retry would refuse again
            raise Failure(str(over), allow_retries=False) from None
    if batch and not batches_in_flight(conn, "extraction"):
        submit_batches(conn, extractor, pending)
    finish_batches(conn, extractor, pending, context.run_id, tally)
    left = conn.execute(PENDING, {"prompt": PROMPT_VERSION, "model": extractor.model}).fetchall()
    if tally.batches and len(left) >= settings.OPENAI_BATCH_MIN_REQUESTS.value():  # the next run batches them
        context.log.warning(f"{len(left)} extractions no batch answered are left for the next run")
        left = []
    for chunk in _chunks(left, CHUNK_INVESTORS):  # what no batch answered (failed lines), one by one
        extract_chunk(conn, extractor, chunk, context.run_id, tally)


@asset(
    deps=["investor_documents", "investors"],
    group_name="profiles",
    kinds={"postgres", "openai"},
    owners=["team:data-platform"],
    retry_policy=DATABASE_RETRY,
    backfill_policy=SINGLE_RUN,  # with the rest, in one run of a `dagster asset materialize --partition-range`
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
        conn.commit()
        if extractor.enabled:
            extract(conn, extractor, pending, context, tally)
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
        "batches": tally.batches,
        "prompt_tokens": tally.prompt_tokens,
        "output_tokens": tally.output_tokens,
        "cost_usd": round(tally.cost_usd, 10),
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
