"""The six embedding assets against the embedded database: incremental by content,
one dimension at a time, resumable, with provenance."""

import pytest
from dagster import materialize

from invest_assets.core.assets import core_assets
from invest_assets.core.partitions import all_months_tags
from invest_assets.embeddings.assets import embedding_assets
from invest_assets.embeddings.checks import embedding_checks
from invest_assets.embeddings.incremental import embed_dimension
from invest_assets.embeddings.staleness import stale_counts
from invest_assets.resources.embedders import EmbedderResource, EmbeddingError
from invest_assets.resources.local_source import LocalFileSource
from invest_assets.sources.schema import DIMENSIONS
from invest_assets.vectors.models import register_model, serving_model_ids
from tests.fakes.openai_server import FakeOpenAI
from tests.source_files import write_source

N = 60


def investor(i, signal="mission driven fintech founders"):
    return {
        "source_id": f"i{i:03d}",
        "name": f"Investor {i}",
        "kind": "firm",
        "sector_text": f"fintech payments lending {i % 7}",
        "stage_text": "seed and series a",
        "check_text": f"checks of {i} hundred thousand",
        "geography_text": "united states and canada",
        "signal_text": signal if i != 5 else "",
        "founder_text": f"technical founders {i % 3}",
    }


def build(db, directory, embedder, selection=None):
    assets = [*core_assets, *embedding_assets]
    result = materialize(
        assets,
        selection=selection,
        resources={"database": db, "source": LocalFileSource(directory=str(directory)), "embedder": embedder},
        tags=all_months_tags(),
    )
    assert result.success
    return {
        e.materialization.asset_key.path[-1]: e.materialization.metadata
        for e in result.get_asset_materialization_events()
    }


def vectors(db):
    columns = ", ".join(f"{d}_embedding::text, {d}_model_id, {d}_embedded_at" for d in DIMENSIONS)
    with db.connection() as conn:
        return {r[0]: r[1:] for r in conn.execute(f"SELECT source_id, {columns} FROM investors")}


@pytest.fixture
def fake():
    with FakeOpenAI() as server:
        yield server


def openai(fake, **kw):
    return EmbedderResource(provider="openai", base_url=fake.base_url, api_key="sk-x", dimensions=1536, **kw)


def test_changing_k_signal_texts_re_embeds_exactly_those(db, tmp_path, fake):
    rows = [investor(i) for i in range(N)]
    build(db, write_source(tmp_path / "v1", investors=rows), openai(fake))
    assert len(fake.inputs) == 6 * N - 1  # investor 5 has no signal text: NULL vector, nothing sent
    before = vectors(db)

    changed = {3, 17, 18, 40, 59}
    rows2 = [investor(i, "climate hardware moonshots") if i in changed else investor(i) for i in range(N)]
    fake.requests.clear()
    metadata = build(
        db, write_source(tmp_path / "v2", investors=rows2), openai(fake), selection=["investors", "signal_embedding"]
    )
    assert fake.inputs == ["climate hardware moonshots"] * len(changed)
    assert metadata["signal_embedding"]["rows_embedded"].value == len(changed)
    assert metadata["signal_embedding"]["dagster/row_count"].value == N - 1  # every signal text has its vector
    preview_rows = metadata["signal_embedding"]["embedded_rows"].value.splitlines()[2:]
    assert [r.split(" | ")[0].strip("| ") for r in preview_rows] == [f"i{i:03d}" for i in sorted(changed)]
    assert all("| climate hardware moonshots |" in r for r in preview_rows)
    after = vectors(db)
    signal = DIMENSIONS.index("signal") * 3
    for source_id, values in after.items():
        i = int(source_id[1:])
        if i in changed:
            assert values[signal] != before[source_id][signal]
        else:
            assert values[signal : signal + 3] == before[source_id][signal : signal + 3]
        others = values[:signal] + values[signal + 3 :]
        assert others == before[source_id][:signal] + before[source_id][signal + 3 :]  # byte-identical


def test_second_run_embeds_nothing_and_checks_pass(db, tmp_path):
    directory = write_source(tmp_path / "s", investors=[investor(i) for i in range(N)])
    local = EmbedderResource(provider="local")
    build(db, directory, local)
    metadata = build(db, directory, local)
    assert all(metadata[f"{d}_embedding"]["rows_embedded"].value == 0 for d in DIMENSIONS)
    result = materialize(
        [*embedding_assets, *embedding_checks],
        selection=["signal_embedding"],
        resources={"database": db, "embedder": local},
    )
    evaluations = result.get_asset_check_evaluations()
    assert evaluations and all(e.passed for e in evaluations)
    with db.connection() as conn:
        counts = stale_counts(conn, serving_model_ids(conn))
        assert {d: counts[d] for d in DIMENSIONS} == dict.fromkeys(DIMENSIONS, 0)


def test_blank_text_clears_the_vector_and_deleted_rows_are_skipped(db, tmp_path):
    local = EmbedderResource(provider="local")
    build(db, write_source(tmp_path / "a", investors=[investor(i) for i in range(N)]), local)
    rows = [investor(i) for i in range(N - 1)]  # the last investor vanishes: soft-deleted
    rows[2]["signal_text"] = "   "
    build(db, write_source(tmp_path / "b", investors=rows), local)
    with db.connection() as conn:
        blank = conn.execute(
            "SELECT signal_embedding, signal_model_id FROM investors WHERE source_id = %s", ("i002",)
        ).fetchone()
        assert blank == (None, None)
        conn.execute("UPDATE investors SET sector_text = 'changed while deleted' WHERE deleted_at IS NOT NULL")
        conn.commit()
        assert stale_counts(conn, serving_model_ids(conn))["sector"] == 0


def test_a_failure_keeps_committed_batches_and_the_rerun_continues(db, tmp_path, fake):
    build(
        db,
        write_source(tmp_path / "s", investors=[investor(i) for i in range(N)]),
        EmbedderResource(),
        selection=["investors"],
    )
    fake.faults.extend([None, ("500",), ("500",)])  # first batch fine, then the service fails for good
    with db.connection() as conn, pytest.raises(EmbeddingError):
        embed_dimension(conn, openai(fake, max_retries=1), "sector", batch_rows=20)
    with db.connection() as conn:
        assert conn.execute("SELECT count(sector_embedding) FROM investors").fetchone()[0] == 20
    fake.requests.clear()
    with db.connection() as conn:
        report = embed_dimension(conn, openai(fake), "sector", batch_rows=20)
    assert report.embedded == N - 20 and len(fake.inputs) == N - 20  # nothing embedded twice


def test_vectors_of_another_model_than_the_serving_one_are_stale(db, tmp_path):
    build(db, write_source(tmp_path / "s", investors=[investor(i) for i in range(N)]), EmbedderResource())
    with db.connection() as conn:
        other = register_model(conn, EmbedderResource(provider="openai", model="text-embedding-3-large").identity)
        assert stale_counts(conn, {**serving_model_ids(conn), "stage": other})["stage"] == N
        assert stale_counts(conn, {})["stage"] == N  # no serving model yet: nothing is current


def test_a_candidate_dimension_gets_its_ann_index_once_it_has_vectors(db, tmp_path, monkeypatch):
    from invest_assets.vectors.indexes import indexed_dimensions

    monkeypatch.setenv("INVEST_ANN_DIMENSIONS", "sector,signal")
    source = write_source(tmp_path / "src", investors=[investor(i) for i in range(N)])
    built = build(db, source, EmbedderResource(provider="local"))
    assert built["signal_embedding"]["ann_index"].value == "built hnsw over 1 distinct vectors"  # one shared text
    assert built["sector_embedding"]["ann_index"].value == "present"  # migration 0002
    assert built["stage_embedding"]["ann_index"].value == "none: not a candidate dimension"
    with db.connection() as conn:
        assert indexed_dimensions(conn) == {"sector", "signal"}
    again = build(db, source, EmbedderResource(provider="local"), selection=["signal_embedding"])
    assert again["signal_embedding"]["ann_index"].value == "present"
