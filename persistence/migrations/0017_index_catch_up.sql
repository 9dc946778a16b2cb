-- A node's search index catches up with what its peers committed while it
-- had no link to them (docs/architecture.md, "Following what the others
-- commit"): the products whose listing, stock or rating changed since a
-- moment. Stock moves and reviews are appended in time order, so a BRIN
-- index stays small and costs a sale almost nothing.
CREATE INDEX products_updated_at_idx ON products (updated_at);
CREATE INDEX stock_ledger_at_idx ON stock_ledger USING brin (at);
CREATE INDEX product_reviews_created_at_idx ON product_reviews USING brin (created_at);
