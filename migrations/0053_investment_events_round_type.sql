-- investment_events gains the round's type, and an index by investor: the graph variant counts each
-- candidate's earlier investments at the stage the company raises (the issue's "stage match counts"),
-- a few hundred candidates a query, each read by its own index range.
DROP MATERIALIZED VIEW investment_events;

CREATE MATERIALIZED VIEW investment_events AS
SELECT i.id, i.investor_id, r.announced_at, r.company_id, r.round_type,
       c.id IS NOT NULL AND c.deleted_at IS NULL AS company_live,
       c.sectors, c.hq_country, c.hq_region, c.hq_city
FROM investments i
JOIN funding_rounds r ON r.id = i.funding_round_id AND r.deleted_at IS NULL
LEFT JOIN companies c ON c.id = r.company_id
WHERE i.deleted_at IS NULL;

CREATE UNIQUE INDEX investment_events_id ON investment_events (id);
CREATE INDEX investment_events_sectors ON investment_events USING gin (sectors) WHERE company_live;
CREATE INDEX investment_events_dated ON investment_events (announced_at) INCLUDE (investor_id);
CREATE INDEX investment_events_place ON investment_events (hq_country, hq_region)
  INCLUDE (hq_city, investor_id, announced_at) WHERE company_live;
CREATE INDEX investment_events_by_investor ON investment_events (investor_id, round_type) INCLUDE (announced_at);
