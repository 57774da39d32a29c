-- Graph ranking models now score query-relative inputs (graph_rank.INPUTS: each feature as it is,
-- as a z-score among the query's candidates and below the query's best). A stored model of the
-- older shape cannot score them: it stops serving, and find_investors serves the shipped model
-- until the ranking_model asset is materialized again.
UPDATE ranking_models SET serving = false WHERE serving AND NOT model ? 'inputs';
