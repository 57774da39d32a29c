"""The ``invest-assets`` command line."""

from __future__ import annotations

import os
import sys
import threading
import time
from pathlib import Path

import click

from invest_assets import settings
from invest_assets.search.cli import (
    feedback_command,
    find_investors_command,
    index_command,
    similar_companies_command,
    vector_storage_command,
)
from invest_assets.tools.crunchbase_cli import crunchbase

SUMMARY_KEYS = (
    "dagster/row_count",
    "inserted",
    "updated",
    "soft_deleted",
    "quarantined",
    "rows_embedded",
    "rows_changed",
    "investors_scored",
)


@click.group()
def cli() -> None:
    """Build and query the investor-matching assets in AlloyDB."""


class BuildProgress:
    """One line per finished step while the build runs: which asset, how many done, elapsed. The instance's
    watcher polls the event log, so the last steps may finish after its last poll: ``report_rest`` prints
    those from the run's own events, each step once."""

    def __init__(self, steps: int):
        self.steps, self.done, self.started = steps, 0, time.monotonic()
        self.reported: set[str] = set()
        self.lock = threading.Lock()

    def __call__(self, entry, _cursor) -> None:
        self.report(entry.dagster_event)

    def report(self, event) -> None:
        if event is None or event.event_type_value not in ("STEP_SUCCESS", "STEP_FAILURE"):
            return
        with self.lock:
            if event.step_key in self.reported:
                return
            self.reported.add(event.step_key)
            self.done += 1
            outcome = "done" if event.event_type_value == "STEP_SUCCESS" else "FAILED"
            click.echo(
                f"[{self.done}/{self.steps}] {event.step_key} {outcome}  ({time.monotonic() - self.started:.1f} s)"
            )

    def report_rest(self, events) -> None:
        for event in events:
            self.report(event)


@cli.command()
@click.option("--job", "job_name", default="build_everything", show_default=True, help="Job to run.")
@click.option("--verbose", is_flag=True, help="Print Dagster's full event log (it is always kept in the instance).")
def build(job_name: str, verbose: bool) -> None:
    """Run the main job (every asset, every month) in-process and print what each asset did."""
    from dagster import DagsterInstance
    from dagster._core.utils import make_new_run_id

    from invest_assets.instance import prepare_instance

    prepare_instance()
    from invest_assets.core.partitions import all_months_tags
    from invest_assets.definitions import defs

    job = defs.resolve_job_def(job_name)
    tags = all_months_tags() if job.partitions_def is not None else None
    run_id = make_new_run_id()
    quiet = None if verbose else {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}
    progress = BuildProgress(len(job.nodes))
    with DagsterInstance.get() as instance:
        click.echo(
            f"run {run_id}: {job_name}, {progress.steps} steps (full log: the run's page in the web UI, or --verbose)"
        )
        instance.watch_event_logs(run_id, None, progress)
        try:
            result = job.execute_in_process(
                instance=instance, raise_on_error=False, tags=tags, run_id=run_id, run_config=quiet
            )
        finally:
            instance.end_watch_event_logs(run_id, progress)
    progress.report_rest(result.all_events)
    # A run over many months records one materialization per month with the same metadata: one line each asset.
    latest = {
        event.materialization.asset_key: event.materialization for event in result.get_asset_materialization_events()
    }
    for materialization in latest.values():
        values = {key: materialization.metadata[key].value for key in SUMMARY_KEYS if key in materialization.metadata}
        line = ", ".join(f"{k.removeprefix('dagster/')}={v}" for k, v in values.items())
        click.echo(f"{materialization.asset_key.to_user_string():<22} {line}")
    for evaluation in result.get_asset_check_evaluations():
        if not evaluation.passed:
            click.echo(f"check {evaluation.asset_key.to_user_string()}:{evaluation.check_name} did not pass")
    for failure in (event for event in result.all_events if event.is_step_failure):
        click.echo(f"step {failure.step_key} failed: {failure.step_failure_data.error.message.strip()}")
    click.echo(f"run {result.run_id}: {'success' if result.success else 'FAILED'}")
    sys.exit(0 if result.success else 1)


@cli.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=3000, show_default=True)
def dev(host: str, port: int) -> None:
    """Start the whole local platform (web UI + daemon) on the PostgreSQL-backed instance."""
    from invest_assets.instance import prepare_instance

    home = prepare_instance()
    click.echo(f"Dagster instance: {home} (storage: PostgreSQL database via DAGSTER_POSTGRES_URL)")
    click.echo(f"Web UI: http://{host}:{port}  (Ctrl-C stops the webserver and the daemon)")
    dagster = Path(sys.executable).parent / "dagster"
    workspace = settings.PROJECT_ROOT / "workspace.yaml"
    os.execv(dagster, [str(dagster), "dev", "-w", str(workspace), "-h", host, "-p", str(port)])


@cli.command()
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), required=True, help="Directory to write.")
@click.option("--investors", default=2000, show_default=True)
@click.option("--companies", default=5000, show_default=True)
@click.option("--rounds", default=10000, show_default=True)
@click.option("--seed", default=7, show_default=True)
def sample(out: Path, investors: int, companies: int, rounds: int, seed: int) -> None:
    """Write a deterministic sample dataset in the local source format."""
    from invest_assets.tools.sample_data import generate_sample

    out.mkdir(parents=True, exist_ok=True)
    counts = generate_sample(out, investors=investors, companies=companies, rounds=rounds, seed=seed)
    click.echo(", ".join(f"{table}={n}" for table, n in counts.items()))


@cli.command()
@click.option("--write", is_flag=True, help="Rewrite the generated graphs in docs/lineage.md and README.md.")
@click.option("--groups", is_flag=True, help="One node per asset group (the README's picture).")
def lineage(write: bool, groups: bool) -> None:
    """Print the asset lineage as Mermaid, generated from the code location."""
    from invest_assets import lineage as pictures
    from invest_assets.definitions import defs

    if write:
        for path in pictures.write_docs(defs):
            click.echo(f"rewrote {path.relative_to(settings.PROJECT_ROOT)}")
        return
    click.echo(pictures.group_mermaid(defs) if groups else pictures.asset_mermaid(defs))


@cli.command()
@click.option("--markdown", is_flag=True, help="The settings table of docs/settings.md instead.")
def config(markdown: bool) -> None:
    """Print every setting in effect and where it came from (default or environment), secrets masked."""
    if markdown:
        click.echo(settings.markdown_table(), nl=False)
        return
    for setting, shown, source in settings.effective():
        click.echo(f"{setting.name:<32} {shown:<40} ({source})")


@cli.command()
def migrate() -> None:
    """Apply pending migrations to the configured database (embedded by default)."""
    from invest_assets.resources.database import apply_migrations, resolve_url

    applied = apply_migrations(resolve_url(settings.ALLOYDB_URL.value()))
    click.echo(f"applied: {', '.join(applied)}" if applied else "up to date")


@cli.group()
def db() -> None:
    """The embedded database server."""


@db.command("url")
def db_url() -> None:
    """Print the data database URL (starting the embedded server if needed)."""
    from invest_assets.resources.database import resolve_url

    click.echo(resolve_url(settings.ALLOYDB_URL.value()))


@db.command("stop")
def db_stop() -> None:
    """Stop the embedded server."""
    from invest_assets.resources.database import stop_embedded_server

    click.echo("stopped" if stop_embedded_server() else "not running")


@cli.command("warm-paths")
@click.argument("investor")
@click.option("--limit", type=click.IntRange(1, 1000), default=10, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def warm_paths_command(investor: str, limit: int, as_json: bool) -> None:
    """INVESTOR's strongest co-investors (source_id or id), with shared companies and last date."""
    import json

    from invest_assets.graph.warm_paths import investor_exists, warm_paths
    from invest_assets.resources.factories import database_resource, resolved

    with resolved(database_resource()).connection() as conn:
        if not investor_exists(conn, investor):
            raise click.UsageError(f"no investor {investor!r} (give a source_id or a numeric id)")
        paths = warm_paths(conn, investor, limit)
    if as_json:
        click.echo(json.dumps(paths, default=str, indent=2))
        return
    if not paths:
        click.echo(f"{investor!r} has no co-investors: it shared no live round with another investor")
    for p in paths:
        companies = ", ".join(p["companies"] or [])
        click.echo(
            f"{p['name']} ({p['source_id']}): {p['shared_rounds']} shared rounds, last {p['last_shared_at']}"
            f" — {companies}"
        )


@cli.command()
@click.option(
    "--source",
    "source_dir",
    type=click.Path(file_okay=False, exists=True, path_type=Path),
    required=True,
    help="A source directory in the local contract (e.g. a converted Crunchbase export).",
)
@click.option("--cut", type=click.DateTime(["%Y-%m-%d"]), required=True, help="Build as of this date.")
@click.option("--until", type=click.DateTime(["%Y-%m-%d"]), required=True, help="Test rounds dated before this.")
@click.option(
    "--workdir",
    type=click.Path(file_okay=False, path_type=Path),
    required=True,
    help="Where the as-of source and its own database live (INVEST_ASSETS_HOME=WORKDIR/home).",
)
@click.option("--max-rounds", type=int, help="Evaluate a random sample of this many test rounds.")
@click.option(
    "--train-months",
    type=click.IntRange(1, 120),
    default=12,
    show_default=True,
    help="The graph model learns from the rounds of these months before the cut.",
)
@click.option("--json", "json_out", type=click.Path(dir_okay=False, path_type=Path), help="Also write JSON here.")
@click.option(
    "--model-out",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write the fitted graph model here (the shipped one is invest_assets/search/ranking_model.json).",
)
@click.option(
    "--with-feedback",
    is_flag=True,
    help="Also learn from the feedback in the configured database "
    "(ALLOYDB_URL or the embedded default): its judged find_investors results.",
)
def evaluate(
    source_dir: Path,
    cut,
    until,
    workdir: Path,
    max_rounds: int | None,
    train_months: int,
    json_out: Path | None,
    model_out: Path | None,
    with_feedback: bool,
) -> None:
    """Backtest find_investors on rounds it never saw, beside simple baselines."""
    from invest_assets.ranking.evaluate import evaluate as run_evaluation
    from invest_assets.ranking.evaluate import feedback_examples
    from invest_assets.resources.factories import database_resource, resolved

    feedback = None
    if with_feedback:
        with resolved(database_resource()).connection() as conn:
            feedback = feedback_examples(conn)
    result = run_evaluation(
        source_dir.resolve(),
        cut.date(),
        until.date(),
        workdir.resolve(),
        max_rounds,
        train_months=train_months,
        feedback=feedback,
    )
    click.echo(result.markdown())
    if json_out:
        json_out.write_text(result.as_json())
    if model_out:
        model_out.write_text(result.model.to_json() + "\n")


cli.add_command(crunchbase)
cli.add_command(find_investors_command)
cli.add_command(feedback_command)
cli.add_command(index_command)
cli.add_command(similar_companies_command)
cli.add_command(vector_storage_command)


def main() -> None:
    """The console script: a configuration the user can fix is one line on stderr and exit code 2, no traceback."""
    from invest_assets.resources.database import InvalidDatabaseURL
    from invest_assets.resources.factories import ConfigurationError

    try:
        cli()
    except (InvalidDatabaseURL, ConfigurationError) as err:
        click.echo(f"error: {err}", err=True)
        sys.exit(2)


if __name__ == "__main__":
    main()
