-- Keyword search for Chinese, Japanese and Korean text, and trigram matching.
--
-- PostgreSQL's text search has no CJK parser: "红色连衣裙" is one token to to_tsvector, so the query "红色" never
-- matches the title "红色连衣裙". The field's standard answer without a word segmenter (Lucene's CJK bigram
-- filter, pg_bigm) is character n-grams: every run of CJK characters is indexed as its single characters and
-- its overlapping pairs, and a query is looked up by its pairs. `search_cjk` holds them beside `search_tsv`,
-- weighted like it (title A, brand B, description C), with its own GIN index. The same SQL function makes the
-- document's and the query's n-grams, so both sides always agree.
--
-- pg_trgm (contrib, and a PGlite extension) adds trigram similarity and LIKE/ILIKE acceleration; the GIN
-- trigram index over the title serves typo-tolerant title matching and substring search.

-- CreateExtension
CREATE EXTENSION IF NOT EXISTS "pg_trgm";

-- CJK n-grams of a text, one per row in text order: for documents (query = false) every character and every
-- pair of neighbours of each CJK run; for queries (query = true) only the pairs (a one-character run: itself).
-- Han (with extension A and compatibility ideographs), Hiragana, Katakana and Hangul syllables.
CREATE FUNCTION glimpse_cjk_ngrams(t text, query boolean) RETURNS SETOF text
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
  SELECT g.gram
  FROM regexp_matches(t, '[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff]+', 'g')
       WITH ORDINALITY AS r(m, run_no)
  CROSS JOIN LATERAL (
    SELECT i, 1 AS len, substr(r.m[1], i, 1) AS gram
    FROM generate_series(1, length(r.m[1])) i
    WHERE NOT query OR length(r.m[1]) = 1
    UNION ALL
    SELECT i, 2, substr(r.m[1], i, 2)
    FROM generate_series(1, length(r.m[1]) - 1) i
  ) g
  ORDER BY r.run_no, g.i, g.len
$$;

-- The n-grams of a text as a tsvector (document side). PL/pgSQL, so that text without CJK characters (most rows
-- of most catalogs) costs one regex test: as an SQL function it made inserts 2x slower on PGlite.
CREATE FUNCTION glimpse_cjk_tsvector(t text) RETURNS tsvector
LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE AS $$
BEGIN
  IF t !~ '[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff]' THEN
    RETURN ''::tsvector;
  END IF;
  RETURN (SELECT to_tsvector('simple'::regconfig, string_agg(g, ' ')) FROM glimpse_cjk_ngrams(t, false) g);
END
$$;

-- The n-grams of a query, OR-ed (rank by how many occur); NULL when the text has no CJK characters.
CREATE FUNCTION glimpse_cjk_tsquery(t text) RETURNS tsquery
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
  SELECT to_tsquery('simple'::regconfig, string_agg(DISTINCT g, ' | '))
  FROM glimpse_cjk_ngrams(t, true) g
$$;

-- AlterTable
ALTER TABLE "product" ADD COLUMN "search_cjk" tsvector GENERATED ALWAYS AS (
    setweight(glimpse_cjk_tsvector(coalesce("title", '')), 'A') ||
    setweight(glimpse_cjk_tsvector(coalesce("brand", '')), 'B') ||
    setweight(glimpse_cjk_tsvector(coalesce("description", '')), 'C')
) STORED;

-- CreateIndex
CREATE INDEX "product_search_cjk_idx" ON "product" USING GIN ("search_cjk");

-- CreateIndex
CREATE INDEX "product_title_trgm_idx" ON "product" USING GIN ("title" gin_trgm_ops);
