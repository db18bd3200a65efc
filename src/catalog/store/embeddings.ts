/**
 * The embedding tables (embedding_512, embedding_768, embedding_1024: one per supported dimension, so models
 * of different dimension coexist): the one list of dimensions, the one table-name function and the one
 * statement that writes vectors. Adding images, the importer and the re-embed job write through
 * insertEmbeddings; the search SQL (src/search/sql.ts) and the index admin read the tables by embeddingTable.
 */
import type { Sql } from '../../db/sql.js';
import { halfvecToSql } from '../../db/vector.js';

/** Dimensions with a vector table (prisma/schema.prisma: Embedding512, Embedding768, Embedding1024). */
export const EMBEDDING_DIMENSIONS = [512, 768, 1024] as const;
export type EmbeddingDimension = (typeof EMBEDDING_DIMENSIONS)[number];

export function isEmbeddingDimension(dimension: number): dimension is EmbeddingDimension {
  return (EMBEDDING_DIMENSIONS as readonly number[]).includes(dimension);
}

/** The vector table of a dimension (the name is never taken from input); RangeError for an unsupported one. */
export function embeddingTable(dimension: number): string {
  if (!isEmbeddingDimension(dimension))
    throw new RangeError(
      `embedding dimension ${dimension} is not supported (supported: ${EMBEDDING_DIMENSIONS.join(', ')})`,
    );
  return `embedding_${dimension}`;
}

/** The model a vector belongs to (src/embedding Embedder and the registry's rows both satisfy it). */
export interface EmbeddingModelRef {
  readonly modelId: string;
  readonly dimension: number;
}

export interface NewEmbedding {
  imageId: string;
  /** of the model's dimension, L2-normalised */
  vector: ArrayLike<number>;
}

/**
 * Writes vectors of one model in one statement. The product id is taken from the image row, so an image
 * deleted meanwhile is skipped and a vector always belongs to its image's product; an image that has a
 * vector of this model already keeps it. Returns the ids of the images whose vector was written.
 */
export async function insertEmbeddings(
  sql: Sql,
  model: EmbeddingModelRef,
  rows: readonly NewEmbedding[],
): Promise<string[]> {
  if (!rows.length) return [];
  const table = embeddingTable(model.dimension);
  const written = await sql.query<{ imageId: string }>(
    `INSERT INTO ${table} (image_id, model_id, product_id, embedding)
     SELECT i.id, $1, i.product_id, v.embedding::halfvec(${model.dimension})
     FROM unnest($2::uuid[], $3::text[]) AS v(image_id, embedding)
     JOIN product_image i ON i.id = v.image_id
     ON CONFLICT (image_id, model_id) DO NOTHING
     RETURNING image_id::text AS "imageId"`,
    [model.modelId, rows.map((r) => r.imageId), rows.map((r) => halfvecToSql(r.vector))],
  );
  return written.map((r) => r.imageId);
}

/** Vectors stored for a model. */
export async function countEmbeddings(sql: Sql, model: EmbeddingModelRef): Promise<number> {
  const rows = await sql.query<{ n: number }>(
    `SELECT count(*)::int AS n FROM ${embeddingTable(model.dimension)} WHERE model_id = $1`,
    [model.modelId],
  );
  return Number(rows[0]?.n ?? 0);
}

/** Vectors in a dimension's table (every model), counted up to `limit`: cheap however large the table. */
export async function countVectorsUpTo(sql: Sql, dimension: number, limit: number): Promise<number> {
  const rows = await sql.query<{ n: number }>(
    `SELECT count(*)::int AS n FROM (SELECT 1 FROM ${embeddingTable(dimension)} LIMIT $1) t`,
    [limit],
  );
  return Number(rows[0]?.n ?? 0);
}

/** Fresh statistics of the catalog's tables after a bulk load (the search planner reads them). */
export async function analyzeCatalog(sql: Sql, dimension: number): Promise<void> {
  await sql.exec(`ANALYZE ${embeddingTable(dimension)}; ANALYZE product; ANALYZE product_image`);
}

/** Images without a vector of the model. */
export async function countImagesWithoutEmbedding(sql: Sql, model: EmbeddingModelRef): Promise<number> {
  const rows = await sql.query<{ n: number }>(
    `SELECT count(*)::int AS n FROM product_image i
     WHERE NOT EXISTS (SELECT 1 FROM ${embeddingTable(model.dimension)} e WHERE e.image_id = i.id AND e.model_id = $1)`,
    [model.modelId],
  );
  return Number(rows[0]?.n ?? 0);
}

/** Deletes every vector of a model; returns how many. */
export async function deleteEmbeddings(sql: Sql, model: EmbeddingModelRef): Promise<number> {
  const rows = await sql.query(
    `DELETE FROM ${embeddingTable(model.dimension)} WHERE model_id = $1 RETURNING image_id`,
    [model.modelId],
  );
  return rows.length;
}

export interface NearImage {
  imageId: string;
  similarity: number;
}

/**
 * Images of the model most similar to `vector` (cosine, up to `candidates` by the vector index), other than
 * `excludeImageId`, that reach `threshold`: the near-duplicate report of adding an image.
 */
export async function nearestImages(
  sql: Sql,
  model: EmbeddingModelRef,
  opts: { vector: ArrayLike<number>; excludeImageId: string; candidates: number; threshold: number },
): Promise<NearImage[]> {
  const q = `$1::halfvec(${model.dimension})`;
  const rows = await sql.query<{ id: string; similarity: number }>(
    `SELECT c.id, c.similarity FROM (
       SELECT e.image_id::text AS id, 1 - (e.embedding <=> ${q}) AS similarity
       FROM ${embeddingTable(model.dimension)} e WHERE e.model_id = $2 AND e.image_id <> $3::uuid
       ORDER BY e.embedding <=> ${q} LIMIT $5
     ) c WHERE c.similarity >= $4 ORDER BY c.similarity DESC, c.id`,
    [halfvecToSql(opts.vector), model.modelId, opts.excludeImageId, opts.threshold, opts.candidates],
  );
  return rows.map((r) => ({ imageId: r.id, similarity: Number(r.similarity) }));
}

/** An image and whether it has a vector of the model (the re-embed job's unit of work). */
export interface ImageEmbeddingState {
  id: string;
  productId: string;
  sha256: string;
  source: string;
  has: boolean;
}

/**
 * Up to `limit` images in id order after `after`, each with whether it has a vector of the model;
 * `withoutEmbedding`: only those that have none.
 */
export async function imagesInIdOrder(
  sql: Sql,
  model: EmbeddingModelRef,
  opts: { after: string; limit: number; withoutEmbedding?: boolean },
): Promise<ImageEmbeddingState[]> {
  const has = `EXISTS (SELECT 1 FROM ${embeddingTable(model.dimension)} e WHERE e.image_id = i.id AND e.model_id = $2)`;
  return sql.query<ImageEmbeddingState>(
    `SELECT i.id::text AS id, i.product_id::text AS "productId", i.sha256::text AS sha256, i.source,
            ${opts.withoutEmbedding ? 'false' : has} AS has
     FROM product_image i WHERE i.id > $1::uuid${opts.withoutEmbedding ? ` AND NOT ${has}` : ''}
     ORDER BY i.id LIMIT $3`,
    [opts.after, model.modelId, opts.limit],
  );
}

/** Images on the products of these skus that have a vector of the model (an import need not embed them again). */
export async function embeddedImagesOfSkus(
  sql: Sql,
  model: EmbeddingModelRef,
  skus: readonly string[],
): Promise<{ sku: string; sha256: string }[]> {
  const rows = await sql.query<{ sku: string; sha256: string }>(
    `SELECT p.sku, i.sha256::text AS sha256 FROM product p JOIN product_image i ON i.product_id = p.id
     JOIN ${embeddingTable(model.dimension)} e ON e.image_id = i.id AND e.model_id = $2
     WHERE p.sku = ANY($1::text[])`,
    [skus, model.modelId],
  );
  return rows.map((r) => ({ sku: r.sku, sha256: r.sha256.trim() }));
}
