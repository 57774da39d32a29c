"""Offline tools over the source contract: the Crunchbase converter and the sample generator."""
