-- The graph variant's `popular` pool (the most active live investors) read the whole investors heap
-- and sorted it for each query: 15 ms of a 2013 company query, on 16,752 investors. This index hands
-- over the first 150 in order.
CREATE INDEX investors_by_activity ON investors (total_investments DESC, id)
  WHERE deleted_at IS NULL AND total_investments > 0;
