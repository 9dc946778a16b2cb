-- The search index loads the active products by category, then id, so that
-- each category's products sit together in memory and a page of a category
-- reads them in order (docs/architecture.md, "Search"). Only active
-- products are loaded; the partial index holds nothing else.
CREATE INDEX products_active_category_idx ON products (category_id, id) WHERE status = 'active';
