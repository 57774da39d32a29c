"""find-investors --queries: JSON lines in, one JSON result per query out, in order, over one
connection; a bad line gets an error object and the others are answered."""

import json

from click.testing import CliRunner

from invest_assets.cli import cli
from tests.search.test_cli_errors import built  # noqa: F401 (fixture)
from tests.search.test_find_investors import investors  # noqa: F401 (fixture)

QUERIES = [
    {"sector_text": "fintech payments", "recency_months": 0, "limit": 5},
    {"sector_txt": "typo"},
    {"sector_text": "climate batteries", "geo": ["US"], "check_size": 500000, "recency_months": 0},
    {"sector_text": "fintech", "weights": {"sector": 1}, "recency_months": 0, "limit": 3},
    {"sector_text": "fintech", "limit": 0},
]


def single(args: list[str]) -> list[str]:
    answer = CliRunner().invoke(cli, ["find-investors", *args, "--json"])
    assert answer.exit_code == 0, answer.output
    return [i["source_id"] for i in json.loads(answer.output)["investors"]]


def test_a_batch_answers_every_line_in_order_as_the_single_queries_do(built, tmp_path):  # noqa: F811
    path = tmp_path / "queries.jsonl"
    path.write_text(
        "\n".join(json.dumps(q) for q in QUERIES[:2])
        + "\n\n"
        + "\n".join([*map(json.dumps, QUERIES[2:]), "[1, 2]", "{not json"])
        + "\n"
    )
    answer = CliRunner().invoke(cli, ["find-investors", "--queries", str(path)])
    assert answer.exit_code == 0, answer.output
    results = [json.loads(line) for line in answer.output.splitlines()]
    assert [r["line"] for r in results] == [1, 2, 4, 5, 6, 7, 8]
    ok = [r for r in results if "error" not in r]
    assert [r["line"] for r in ok] == [1, 4, 5]
    assert len({r["run_id"] for r in ok}) == 3
    assert [i["source_id"] for i in ok[0]["investors"]] == single(
        ["--sector-text", "fintech payments", "--recency-months", "0", "--limit", "5"]
    )
    assert [i["source_id"] for i in ok[1]["investors"]] == single(
        ["--sector-text", "climate batteries", "--geo", "US", "--check-size", "500000", "--recency-months", "0"]
    )
    assert all("US" in i["geographies"] for i in ok[1]["investors"])
    assert len(ok[2]["investors"]) == 3 and ok[2]["weights"] == {"sector": 1.0}
    errors = {r["line"]: r["error"] for r in results if "error" in r}
    assert "unknown key 'sector_txt'" in errors[2]
    assert set(errors) == {2, 6, 7, 8} and "--limit" in errors[6]
    assert "expected a JSON object" in errors[7] and "Expecting property name" in errors[8]
