"""Investor theses extracted by a language model from what investors publish (``investor_documents``)."""

from dagster import Definitions

from invest_assets.theses.assets import investor_theses

defs = Definitions(assets=[investor_theses])
