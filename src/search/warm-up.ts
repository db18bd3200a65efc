/**
 * The warm-up search the server runs on each connection it keeps open (src/db `warmUp`, GLIMPSE_DB_POOL_MIN):
 * a new PostgreSQL backend's first search is 2–2.5× slower than its later ones (catalog caches, the
 * first touch of each shared buffer it reads; docs/performance.md "Connection warmth and the access log"), so
 * that cost is paid at start instead of by a storefront's request.
 */
import { embeddingTable, isEmbeddingDimension } from '../catalog/store/embeddings.js';
import type { Sql } from '../db/sql.js';
import { SearchService } from './service.js';
import { buildActiveModel } from './sql.js';
import type { EmbedderProvider, SearchConfig } from './types.js';

/**
 * "More like this" for one product with a vector of the active model, on `sql` (one connection): the vector
 * index, the vector table and the product table, as a storefront's search reads them. Returns false without
 * searching when there is nothing to search (no active model, no vectors yet).
 */
export async function warmUpSearch(sql: Sql, config: SearchConfig, embedder: EmbedderProvider): Promise<boolean> {
  const active = buildActiveModel();
  const [model] = await sql.query<{ id: string; dimension: number }>(active.text, active.params);
  if (!model || !isEmbeddingDimension(model.dimension)) return false;
  const [row] = await sql.query<{ product_id: string }>(
    `SELECT product_id FROM ${embeddingTable(model.dimension)} WHERE model_id = $1 LIMIT 1`,
    [model.id],
  );
  if (!row) return false;
  await new SearchService(sql, config, embedder).similarProducts(row.product_id, { first: 10 });
  return true;
}
