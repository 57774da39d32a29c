"""Ranking quality: the backtest of find_investors against simple baselines on held-out rounds."""
