-- The category tree (self-referencing). The category actor keeps the whole
-- tree in memory and is its only writer; the database keeps it durable and
-- guards sibling names and references.

CREATE TABLE categories (
  id         bigint PRIMARY KEY,
  parent_id  bigint REFERENCES categories (id),
  name       text NOT NULL,
  slug       text NOT NULL,
  position   integer NOT NULL DEFAULT 0,
  active     boolean NOT NULL DEFAULT true,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  version    integer NOT NULL DEFAULT 1,
  CHECK (parent_id IS NULL OR parent_id <> id)
);
-- Sibling names are unique (case-insensitively); roots are siblings too.
CREATE UNIQUE INDEX categories_sibling_name_key ON categories (COALESCE(parent_id, 0), lower(name));
CREATE INDEX categories_parent_idx ON categories (parent_id);
