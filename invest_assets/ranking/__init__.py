"""Ranking quality: the backtest of find_investors against simple baselines on held-out rounds, and
the fitted graph model, as assets."""

from dagster import Definitions

from invest_assets.ranking.assets import ranking_backtest

defs = Definitions(assets=[ranking_backtest])
