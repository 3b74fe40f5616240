-- Deliveries are always listed per webhook (deliveries_webhook); an index by workspace
-- was one more B-tree insert for every delivery stored, and no query used it.
DROP INDEX IF EXISTS deliveries_workspace;
