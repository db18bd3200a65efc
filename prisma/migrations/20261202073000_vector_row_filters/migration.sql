-- Filter columns on the vector rows (docs/search.md, "Filter columns on the vector rows"): a filtered vector
-- search reads the filter and the distance from one table, instead of looking each candidate's product up.
-- Triggers keep them equal to the product's, in the same transaction, whatever writes: an embedding row copies
-- its product's values when inserted (under a lock that a concurrent product update waits for), and a product
-- update that changes one of them rewrites that product's vector rows. The product's own created_at is
-- product_created_at here (the row has its own created_at). Indexed: tags, brand and category, which select
-- the rows of an exact scan; price, stock and creation time are only read off the rows found, and left
-- unindexed so that updating them does not also have to change an index.

ALTER TABLE "embedding_512" ADD COLUMN "category" TEXT, ADD COLUMN "brand" TEXT, ADD COLUMN "currency" CHAR(3),
  ADD COLUMN "price" DECIMAL(12,2), ADD COLUMN "in_stock" BOOLEAN, ADD COLUMN "tags" TEXT[] DEFAULT ARRAY[]::TEXT[],
  ADD COLUMN "product_created_at" TIMESTAMPTZ(3);
ALTER TABLE "embedding_768" ADD COLUMN "category" TEXT, ADD COLUMN "brand" TEXT, ADD COLUMN "currency" CHAR(3),
  ADD COLUMN "price" DECIMAL(12,2), ADD COLUMN "in_stock" BOOLEAN, ADD COLUMN "tags" TEXT[] DEFAULT ARRAY[]::TEXT[],
  ADD COLUMN "product_created_at" TIMESTAMPTZ(3);
ALTER TABLE "embedding_1024" ADD COLUMN "category" TEXT, ADD COLUMN "brand" TEXT, ADD COLUMN "currency" CHAR(3),
  ADD COLUMN "price" DECIMAL(12,2), ADD COLUMN "in_stock" BOOLEAN, ADD COLUMN "tags" TEXT[] DEFAULT ARRAY[]::TEXT[],
  ADD COLUMN "product_created_at" TIMESTAMPTZ(3);

-- Existing vectors: every row is rewritten once. An UPDATE would insert each new row version into the vector
-- index one by one (the slowest way to build it), so a table's vector indexes are dropped first and built
-- again from their own definitions afterwards (with 1GB of maintenance_work_mem for this transaction: an HNSW
-- graph that does not fit builds many times slower). The old row versions are left to (auto)vacuum; on a large
-- catalog run VACUUM ANALYZE on the embedding tables after the upgrade (docs/migrations.md).
DO $$
DECLARE
  t text;
  defs text[];
  idx text;
BEGIN
  PERFORM set_config('maintenance_work_mem', '1GB', true);
  FOREACH t IN ARRAY ARRAY['embedding_512', 'embedding_768', 'embedding_1024'] LOOP
    EXECUTE format('SELECT EXISTS (SELECT 1 FROM %I)', t) INTO STRICT idx;
    CONTINUE WHEN idx = 'false';
    SELECT coalesce(array_agg(pg_get_indexdef(i.indexrelid)), ARRAY[]::text[]) INTO defs
    FROM pg_index i
    JOIN pg_class c ON c.oid = i.indexrelid
    JOIN pg_am am ON am.oid = c.relam
    WHERE i.indrelid = t::regclass AND am.amname IN ('hnsw', 'ivfflat');
    FOR idx IN
      SELECT c.relname FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_am am ON am.oid = c.relam
      WHERE i.indrelid = t::regclass AND am.amname IN ('hnsw', 'ivfflat')
    LOOP
      EXECUTE format('DROP INDEX %I', idx);
    END LOOP;
    EXECUTE format(
      'UPDATE %I e SET category = p.category, brand = p.brand, currency = p.currency, price = p.price,
         in_stock = p.in_stock, tags = p.tags, product_created_at = p.created_at
       FROM product p WHERE p.id = e.product_id', t);
    FOREACH idx IN ARRAY defs LOOP
      EXECUTE idx;
    END LOOP;
  END LOOP;
END $$;

-- A new vector row takes its product's values. FOR SHARE: a product update that has not committed yet is
-- waited for (and its values read), and one that starts later waits for this transaction, then rewrites this
-- row with the rest. No product (a dangling id): the foreign key refuses the row right after.
CREATE FUNCTION glimpse_vector_row_filters() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  SELECT p.category, p.brand, p.currency, p.price, p.in_stock, p.tags, p.created_at
    INTO NEW.category, NEW.brand, NEW.currency, NEW.price, NEW.in_stock, NEW.tags, NEW.product_created_at
    FROM product p WHERE p.id = NEW.product_id FOR SHARE;
  RETURN NEW;
END $$;

CREATE TRIGGER "embedding_512_filters" BEFORE INSERT OR UPDATE OF product_id ON "embedding_512"
  FOR EACH ROW EXECUTE FUNCTION glimpse_vector_row_filters();
CREATE TRIGGER "embedding_768_filters" BEFORE INSERT OR UPDATE OF product_id ON "embedding_768"
  FOR EACH ROW EXECUTE FUNCTION glimpse_vector_row_filters();
CREATE TRIGGER "embedding_1024_filters" BEFORE INSERT OR UPDATE OF product_id ON "embedding_1024"
  FOR EACH ROW EXECUTE FUNCTION glimpse_vector_row_filters();

-- A product update that changes a filter column rewrites its vector rows (only then: the WHEN clause leaves
-- every other update, e.g. of the title, alone).
CREATE FUNCTION glimpse_product_filters_to_vector_rows() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  UPDATE embedding_512 SET category = NEW.category, brand = NEW.brand, currency = NEW.currency, price = NEW.price,
    in_stock = NEW.in_stock, tags = NEW.tags, product_created_at = NEW.created_at WHERE product_id = NEW.id;
  UPDATE embedding_768 SET category = NEW.category, brand = NEW.brand, currency = NEW.currency, price = NEW.price,
    in_stock = NEW.in_stock, tags = NEW.tags, product_created_at = NEW.created_at WHERE product_id = NEW.id;
  UPDATE embedding_1024 SET category = NEW.category, brand = NEW.brand, currency = NEW.currency, price = NEW.price,
    in_stock = NEW.in_stock, tags = NEW.tags, product_created_at = NEW.created_at WHERE product_id = NEW.id;
  RETURN NULL;
END $$;

CREATE TRIGGER "product_filters_to_vector_rows" AFTER UPDATE OF category, brand, currency, price, in_stock, tags,
  created_at ON "product" FOR EACH ROW
  WHEN (OLD.category IS DISTINCT FROM NEW.category OR OLD.brand IS DISTINCT FROM NEW.brand
    OR OLD.currency IS DISTINCT FROM NEW.currency OR OLD.price IS DISTINCT FROM NEW.price
    OR OLD.in_stock IS DISTINCT FROM NEW.in_stock OR OLD.tags IS DISTINCT FROM NEW.tags
    OR OLD.created_at IS DISTINCT FROM NEW.created_at)
  EXECUTE FUNCTION glimpse_product_filters_to_vector_rows();

-- CreateIndex
CREATE INDEX "embedding_512_tags_idx" ON "embedding_512" USING GIN ("tags");
CREATE INDEX "embedding_512_brand_idx" ON "embedding_512"("brand");
CREATE INDEX "embedding_512_category_idx" ON "embedding_512"("category" text_pattern_ops);
CREATE INDEX "embedding_768_tags_idx" ON "embedding_768" USING GIN ("tags");
CREATE INDEX "embedding_768_brand_idx" ON "embedding_768"("brand");
CREATE INDEX "embedding_768_category_idx" ON "embedding_768"("category" text_pattern_ops);
CREATE INDEX "embedding_1024_tags_idx" ON "embedding_1024" USING GIN ("tags");
CREATE INDEX "embedding_1024_brand_idx" ON "embedding_1024"("brand");
CREATE INDEX "embedding_1024_category_idx" ON "embedding_1024"("category" text_pattern_ops);
