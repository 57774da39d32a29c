-- The graph ranking models fitted by the ranking_model asset: the model (weights, standardization,
-- features), how it was trained, what the backtest measured, and which one find_investors serves
-- (at most one; none means the model shipped in the package).
CREATE TABLE ranking_models (
  id          serial PRIMARY KEY,
  version     text NOT NULL,
  model       jsonb NOT NULL,
  metrics     jsonb NOT NULL DEFAULT '{}',
  serving     boolean NOT NULL DEFAULT false,
  created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX ranking_models_one_serving ON ranking_models (serving) WHERE serving;
