"""``invest-assets crunchbase convert``: a Crunchbase export to the local source layout."""

from __future__ import annotations

from pathlib import Path

import click

EXISTING_FILE = click.Path(exists=True, dir_okay=False, path_type=Path)


@click.group()
def crunchbase() -> None:
    """Crunchbase CSV exports."""


@crunchbase.command()
@click.option(
    "--layout",
    type=click.Choice(["bulk", "2013"]),
    required=True,
    help="bulk: the bulk-export CSVs (uuids); 2013: the 2013 open-data companies/rounds (permalinks).",
)
@click.option(
    "--export",
    "export_dir",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    help="bulk: the directory with funding_rounds.csv, investments.csv, investors.csv [organizations.csv].",
)
@click.option("--companies", type=EXISTING_FILE, help="2013: crunchbase-companies.csv.")
@click.option("--rounds", type=EXISTING_FILE, help="2013: crunchbase-rounds.csv.")
@click.option(
    "--links", type=EXISTING_FILE, help="2013: investor links (company_name,investor_name,funded_when,amount_usd)."
)
@click.option(
    "--techcrunch-investments",
    type=EXISTING_FILE,
    help="2013: or links from the headerless June 2013 API files (company,year,amount,currency,round code,investor).",
)
@click.option(
    "--techcrunch-investors",
    type=EXISTING_FILE,
    help="2013: the firms of --techcrunch-investments (name,year,city,state).",
)
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    required=True,
    help="Directory to write companies/funding_rounds/investments/investors.csv (INVEST_SOURCE_DIR).",
)
def convert(
    layout: str,
    export_dir: Path | None,
    companies: Path | None,
    rounds: Path | None,
    links: Path | None,
    techcrunch_investments: Path | None,
    techcrunch_investors: Path | None,
    out: Path,
) -> None:
    """Convert a Crunchbase export into the local source layout; load it with INVEST_SOURCE_DIR=OUT."""
    from invest_assets.tools.crunchbase import (
        convert_bulk_export,
        convert_open_data_2013,
        name_and_date_links,
        techcrunch_links,
    )

    if layout == "bulk":
        if export_dir is None:
            raise click.UsageError("--layout bulk needs --export DIR")
        report = convert_bulk_export(export_dir, out)
    else:
        if companies is None or rounds is None:
            raise click.UsageError("--layout 2013 needs --companies FILE and --rounds FILE")
        if links and techcrunch_investments:
            raise click.UsageError("give one link file: --links or --techcrunch-investments")
        link_source = None
        if links:
            link_source = name_and_date_links(links)
        elif techcrunch_investments:
            link_source = techcrunch_links(techcrunch_investments, techcrunch_investors)
        report = convert_open_data_2013(companies, rounds, link_source, out)
    click.echo(report.summary())
