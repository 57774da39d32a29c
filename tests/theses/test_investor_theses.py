"""investor_theses through the real ``openai`` client against the loopback fake: extraction into the
served profile with its precedence, memoization by content, one changed document re-extracting one
investor and re-embedding only the dimensions whose text changed, bad answers quarantined, refusals
recorded, failed requests retried by the client or left for the next run, and the documents table's
own load (optional, typed, quarantined)."""

import json
import re

import pytest
from dagster import DagsterInstance, build_sensor_context, materialize

from invest_assets.core.assets import core_assets
from invest_assets.core.partitions import all_months_tags
from invest_assets.embeddings.assets import embedding_assets
from invest_assets.embeddings.sensors import stale_embeddings_sensor
from invest_assets.resources.embedders import EmbedderResource
from invest_assets.resources.extractors import ExtractorResource
from invest_assets.resources.local_source import LocalFileSource
from invest_assets.theses.assets import investor_theses
from invest_assets.theses.extraction import PROMPT_VERSION
from tests.fakes.openai_server import FakeOpenAI, kill_while_polling
from tests.source_files import write_source, write_table

INVESTORS = [
    {"source_id": "alpha", "name": "Alpha Ventures", "kind": "firm", "geography_text": "Backs companies in Spain."},
    {"source_id": "beta", "name": "Beta Capital", "kind": "firm"},
    {"source_id": "gamma", "name": "Gamma Partners", "kind": "firm"},
]
ALPHA_WEB = """We back fintech founders early.
sector_text: Invests in fintech infrastructure and B2B payments.
stage_text: Invests at pre-seed and seed.
geography_text: Backs companies in France and Germany.
thesis_summary: Pre-seed fintech infrastructure in France and Germany.
sectors: fintech, payments
stages: pre_seed, seed
geographies: FR, DE
check_min: 250000
check_max: 2000000"""
ALPHA_NEWS = "Alpha Ventures raised its third fund.\nsignal_text: Looks for revenue from the first month."
BETA_DECK = """sector_text: Invests in climate software.
stage_text: Invests at series A.
geographies: US"""
DOCUMENTS = [
    {"investor_source_id": "alpha", "kind": "web", "url": "https://alpha.vc/thesis", "text": ALPHA_WEB},
    {"investor_source_id": "alpha", "kind": "news", "url": "https://news.example/alpha-fund-3", "text": ALPHA_NEWS},
    {"investor_source_id": "beta", "kind": "deck", "url": "deck://beta-2026", "text": BETA_DECK},
]


def source_with(tmp_path, documents):
    return write_source(tmp_path / "src", investors=INVESTORS, investor_documents=documents)


def run(db, source, fake=None, embed=False, raise_on_error=True):
    extractor = (
        ExtractorResource(
            provider="openai", base_url=fake.base_url, api_key="sk-test", max_retries=2, max_concurrent_requests=1
        )
        if fake
        else ExtractorResource()
    )
    assets = [*core_assets, investor_theses, *(embedding_assets if embed else [])]
    result = materialize(
        assets,
        tags=all_months_tags(),
        resources={
            "database": db,
            "source": LocalFileSource(directory=str(source)),
            "embedder": EmbedderResource(),
            "extractor": extractor,
        },
        raise_on_error=raise_on_error,
    )
    events = result.asset_materializations_for_node("investor_theses")
    return result, (events[-1].metadata if events else {})


def served(db) -> dict:
    with db.connection() as conn:
        rows = conn.execute(
            "SELECT source_id, sector_text, stage_text, geography_text, signal_text, focus_sectors, preferred_stages,"
            " geographies, check_size_min_usd, check_size_max_usd, provenance FROM investors ORDER BY source_id"
        ).fetchall()
    return {row[0]: row[1:] for row in rows}


def test_documents_load_and_nothing_is_extracted_by_default(db, tmp_path):
    source = source_with(tmp_path, DOCUMENTS)
    _, metadata = run(db, source)
    assert metadata["extractor"].value == "none" and metadata["investors_to_extract"].value == 2
    assert metadata["requests"].value == 0
    with db.connection() as conn:
        rows = conn.execute(
            "SELECT d.source_id, v.source_id, d.kind, d.url FROM investor_documents d"
            " JOIN investors v ON v.id = d.investor_id ORDER BY d.source_id"
        ).fetchall()
        assert conn.execute("SELECT count(*) FROM investor_theses").fetchone()[0] == 0
    assert rows == [
        ("alpha|news|https://news.example/alpha-fund-3", "alpha", "news", "https://news.example/alpha-fund-3"),
        ("alpha|web|https://alpha.vc/thesis", "alpha", "web", "https://alpha.vc/thesis"),
        ("beta|deck|deck://beta-2026", "beta", "deck", "deck://beta-2026"),
    ]
    assert served(db)["alpha"][3] is None  # nothing extracted: the stated geography alone serves


def test_a_source_without_the_documents_file_loads(db, tmp_path):
    source = source_with(tmp_path, [])
    (source / "investor_documents.csv").unlink()
    _, metadata = run(db, source)
    assert metadata["dagster/row_count"].value == 0


def test_bad_documents_are_quarantined_with_a_reason(db, tmp_path):
    bad = [
        {"investor_source_id": "alpha", "kind": "podcast", "url": "https://a", "text": "t"},
        {"investor_source_id": "nobody", "kind": "web", "url": "https://b", "text": "t"},
        {"investor_source_id": "beta", "kind": "web", "url": "https://c", "text": ""},
    ]
    source = source_with(tmp_path, [*DOCUMENTS, *bad])
    run(db, source)
    with db.connection() as conn:
        reasons = dict(
            conn.execute("SELECT source_id, reason FROM quarantine WHERE table_name = 'investor_documents'").fetchall()
        )
        assert conn.execute("SELECT count(*) FROM investor_documents").fetchone()[0] == 3
    assert reasons[None].startswith("invalid_choice: kind")  # a key column that fails its type makes no key
    assert reasons["nobody|web|https://b"].startswith("unknown_reference")
    assert reasons["beta|web|https://c"].startswith("missing_value: text")


def test_extraction_serves_below_the_source_and_is_memoized(db, tmp_path):
    source = source_with(tmp_path, DOCUMENTS)
    with FakeOpenAI() as fake:
        _, first = run(db, source, fake)
        sent = list(fake.chats)
        _, second = run(db, source, fake)
        assert len(fake.chats) == len(sent) == 2  # the second run sends nothing
    assert (first["extracted"].value, first["prompt_tokens"].value > 0) == (2, True)
    assert second["investors_to_extract"].value == 0 and second["requests"].value == 0
    request = next(r for r in sent if "Alpha Ventures" in r["messages"][1]["content"])
    assert request["response_format"]["type"] == "json_schema" and request["response_format"]["json_schema"]["strict"]
    assert "https://alpha.vc/thesis" in request["messages"][1]["content"]
    assert "Alpha Ventures raised its third fund." in request["messages"][1]["content"]
    alpha = served(db)["alpha"]
    assert alpha[:4] == (
        "Invests in fintech infrastructure and B2B payments.",
        "Invests at pre-seed and seed.",
        "Backs companies in Spain.",  # the source states a geography: it wins over the extracted one
        "Looks for revenue from the first month.",
    )
    assert alpha[4:9] == (["fintech", "payments"], ["pre_seed", "seed"], ["DE", "FR"], 250000, 2000000)
    assert alpha[9]["sector_text"] == "extracted" and alpha[9]["geography_text"] == "source"
    assert alpha[9]["check_size"] == "extracted"
    with db.connection() as conn:
        memo = conn.execute(
            "SELECT status, prompt_version, model, summary FROM investor_theses t"
            " JOIN investors v ON v.id = t.investor_id WHERE v.source_id = 'alpha'"
        ).fetchone()
    assert memo == (
        "extracted",
        PROMPT_VERSION,
        "gpt-4o-mini",
        "Pre-seed fintech infrastructure in France and Germany.",
    )
    # the cost is the fake's own token counts at the model's price
    assert first["prompt_tokens"].value == sum(len(m["content"].split()) for r in sent for m in r["messages"])
    cost = (first["prompt_tokens"].value * 0.15 + first["output_tokens"].value * 0.60) / 1e6
    assert first["cost_usd"].value == round(cost, 10)


def test_a_changed_document_re_extracts_one_investor_and_re_embeds_only_its_changed_dimension(db, tmp_path):
    source = source_with(tmp_path, DOCUMENTS)
    with FakeOpenAI() as fake:
        run(db, source, fake, embed=True)
        changed = [dict(d) for d in DOCUMENTS]
        changed[2]["text"] = BETA_DECK.replace("series A", "series A and B")
        write_table(source, "investor_documents", changed)
        before = len(fake.chats)
        run(db, source, fake)
        assert len(fake.chats) == before + 1 and "Beta Capital" in fake.chats[-1]["messages"][1]["content"]
    assert served(db)["beta"][1] == "Invests at series A and B."
    with DagsterInstance.ephemeral() as instance:
        context = build_sensor_context(instance=instance, resources={"database": db, "embedder": EmbedderResource()})
        requests = stale_embeddings_sensor(context).run_requests
    assert [(r.tags["invest/dimension"], r.tags["invest/stale_rows"]) for r in requests] == [("stage", "1")]


def test_bad_answers_are_quarantined_refusals_recorded_and_nothing_half_written(db, tmp_path):
    documents = [
        {**DOCUMENTS[0], "text": ALPHA_WEB.replace("FR, DE", "FR, XX")},  # not an ISO-3166 code
        {
            "investor_source_id": "beta",
            "kind": "web",
            "url": "https://beta",
            "text": "check_min: 5000000\ncheck_max: 10",
        },
        {"investor_source_id": "gamma", "kind": "web", "url": "https://gamma", "text": "sector_text: Invests in AI."},
    ]
    source = source_with(tmp_path, documents)
    with FakeOpenAI() as fake:
        fake.faults.extend([None, None, ("refusal",)])  # requests go out in investor order: alpha, beta, gamma
        _, metadata = run(db, source, fake)
        assert (metadata["rejected"].value, metadata["refused"].value, metadata["extracted"].value) == (2, 1, 0)
        with db.connection() as conn:
            quarantined = dict(
                conn.execute("SELECT source_id, reason FROM quarantine WHERE table_name = 'investor_theses'").fetchall()
            )
            raw = conn.execute("SELECT raw FROM quarantine WHERE source_id = 'alpha'").fetchone()[0]
            statuses = dict(
                conn.execute(
                    "SELECT v.source_id, t.status FROM investor_theses t JOIN investors v ON v.id = t.investor_id"
                ).fetchall()
            )
        assert quarantined["alpha"].startswith("invalid_country: ['XX']")
        assert quarantined["beta"].startswith("impossible_value: check_size_min_usd 5000000 > check_size_max_usd 10")
        assert '"XX"' in raw["content"]
        assert statuses == {"alpha": "rejected", "beta": "rejected", "gamma": "refused"}
        assert all(row[0] is None and row[4] is None for row in served(db).values())  # nothing written
        fake.faults.append(("malformed",))
        write_table(source, "investor_documents", [{**documents[2], "text": "sector_text: Invests in robotics."}])
        _, malformed = run(db, source, fake)
    assert malformed["rejected"].value == 1
    with db.connection() as conn:
        reason = conn.execute("SELECT reason FROM investor_theses t JOIN investors v ON v.id = t.investor_id"
                              " WHERE v.source_id = 'gamma'").fetchone()[0]  # fmt: skip
    assert reason.startswith("malformed_json")


def test_the_client_retries_429_and_500_and_a_request_that_keeps_failing_is_asked_again_next_run(db, tmp_path):
    source = source_with(tmp_path, DOCUMENTS)
    with FakeOpenAI() as fake:
        fake.faults.extend([("429", 0), ("500",)])
        _, metadata = run(db, source, fake)
        assert metadata["extracted"].value == 2 and fake.attempts == 4
        write_table(
            source,
            "investor_documents",
            [{**d, "text": d["text"] + "\nfounder_text: Repeat founders."} for d in DOCUMENTS],
        )
        fake.faults.extend([("500",)] * 3)  # the client's two retries of alpha's request all fail
        result, _ = run(db, source, fake, raise_on_error=False)
        assert not result.success
        failure = result.get_step_failure_events()[0].event_specific_data.error.message
        assert "1 of 2 extraction requests failed" in failure and "sk-test" not in failure
        assert served(db)["beta"] is not None
        with db.connection() as conn:
            texts = dict(conn.execute("SELECT source_id, founder_text FROM investors").fetchall())
        assert texts["beta"] == "Repeat founders." and texts["alpha"] is None  # beta's answer was kept
        _, rerun = run(db, source, fake)
        assert rerun["investors_to_extract"].value == 1 and rerun["extracted"].value == 1
    assert json.dumps(served(db)["alpha"][9], sort_keys=True).count("extracted") >= 4


def test_an_extraction_over_budget_sends_nothing_and_what_one_costs_is_accounted(db, tmp_path, monkeypatch):
    source = source_with(tmp_path, DOCUMENTS)
    with FakeOpenAI() as fake:
        monkeypatch.setenv("INVEST_OPENAI_MAX_USD_PER_RUN", "0.0001")
        result, _ = run(db, source, fake, raise_on_error=False)
        failures = result.get_step_failure_events()
        assert [f.step_key for f in failures] == ["investor_theses"] and fake.attempts == 0
        message = failures[0].event_specific_data.error.message
        assert re.search(r"extracting 2 theses: estimated \$0\.000\d+ is over INVEST_OPENAI_MAX_USD_PER_RUN", message)
        monkeypatch.setenv("INVEST_OPENAI_MAX_USD_PER_RUN", "0.01")
        _, metadata = run(db, source, fake)
    with db.connection() as conn:
        usage = conn.execute(
            "SELECT model, purpose, requests, input_tokens, output_tokens, cost_usd::float FROM openai_usage"
        ).fetchall()
    tokens = (metadata["prompt_tokens"].value, metadata["output_tokens"].value)
    assert usage == [("gpt-4o-mini", "extraction", 2, *tokens, metadata["cost_usd"].value)]


@pytest.fixture
def batch_mode(monkeypatch):
    monkeypatch.setenv("INVEST_OPENAI_BATCH", "always")
    monkeypatch.setenv("INVEST_OPENAI_BATCH_POLL_SECONDS", "0.01")


def batches(db) -> list[tuple]:
    with db.connection() as conn:
        return conn.execute("SELECT batch_id, status, requests, applied_at IS NOT NULL FROM openai_batches").fetchall()


def test_a_batch_extracts_at_half_price_and_its_failed_lines_are_asked_again_one_by_one(db, tmp_path, batch_mode):
    source = source_with(tmp_path, DOCUMENTS)
    with FakeOpenAI() as fake:
        fake.batch_polls, fake.batch_line_faults = 3, {"Beta Capital"}
        _, metadata = run(db, source, fake)
        assert len(fake.batches) == 1 and fake.polls == 3  # started once, polled until done
        assert [c["messages"][1]["content"].split("\n")[0] for c in fake.chats] == ["Investor: Beta Capital"]
    assert (metadata["batches"].value, metadata["extracted"].value, metadata["failed"].value) == (1, 2, 0)
    assert batches(db) == [("batch-1", "completed", 2, True)]
    assert served(db)["alpha"][0] == "Invests in fintech infrastructure and B2B payments."
    assert served(db)["beta"][0] == "Invests in climate software."
    with db.connection() as conn:
        tokens = {
            source_id: (prompt, output)
            for source_id, prompt, output in conn.execute(
                "SELECT v.source_id, prompt_tokens, output_tokens FROM investor_theses t"
                " JOIN investors v ON v.id = t.investor_id"
            )
        }
        usage = conn.execute("SELECT requests, cost_usd::float FROM openai_usage").fetchone()
    alpha, beta = tokens["alpha"], tokens["beta"]
    half = ExtractorResource().cost_usd(*alpha, batch=True)
    assert half == pytest.approx(ExtractorResource().cost_usd(*alpha) / 2)
    assert usage == (2, pytest.approx(half + ExtractorResource().cost_usd(*beta)))


def test_an_expired_batch_keeps_what_it_answered_and_the_rest_is_asked_again(db, tmp_path, batch_mode):
    source = source_with(tmp_path, DOCUMENTS)
    with FakeOpenAI() as fake:
        fake.expire_batches = True  # only the first of the two lines is answered
        _, metadata = run(db, source, fake)
        assert len(fake.batches) == 1 and len(fake.chats) == 1
    assert metadata["extracted"].value == 2 and batches(db) == [("batch-1", "expired", 2, True)]


def test_a_run_killed_while_waiting_for_its_batch_is_resumed_without_paying_twice(db, tmp_path, batch_mode):
    source = source_with(tmp_path, DOCUMENTS)
    run(db, source)  # the tables, nothing extracted
    with FakeOpenAI() as fake:
        kill_while_polling(
            fake,
            "investor_theses",
            ALLOYDB_URL=db.url,
            DAGSTER_HOME=str(tmp_path),
            INVEST_SOURCE_DIR=str(source),
            INVEST_EXTRACTOR="openai",
        )
        assert batches(db) == [("batch-1", "started", 2, False)]
        _, metadata = run(db, source, fake)
        assert len(fake.batches) == 1 and len(fake.files) == 2 and fake.chats == []  # one upload, one output
    assert metadata["batches"].value == 1 and metadata["extracted"].value == 2
    assert batches(db) == [("batch-1", "completed", 2, True)]


def test_an_investor_whose_documents_are_all_deleted_serves_its_graph_and_source_values_again(db, tmp_path):
    source = source_with(tmp_path, DOCUMENTS)
    with FakeOpenAI() as fake:
        run(db, source, fake)
        assert served(db)["beta"][0] == "Invests in climate software."
        write_table(source, "investor_documents", DOCUMENTS[:2])  # beta's deck is gone from the snapshot
        _, metadata = run(db, source, fake)
    assert metadata["cleared_without_documents"].value == 1
    beta = served(db)["beta"]
    assert beta[0] is None and beta[6] is None and "sector_text" not in beta[9]  # nothing left to serve
    assert served(db)["alpha"][0] == "Invests in fintech infrastructure and B2B payments."
    with db.connection() as conn:
        assert conn.execute("SELECT count(*) FROM investor_documents WHERE deleted_at IS NOT NULL").fetchone()[0] == 1
        assert conn.execute("SELECT count(*) FROM investor_theses").fetchone()[0] == 1
