/**
 * The product_image table: its row type, the columns every image read selects, the marks of an image that
 * came with a precomputed embedding and no file (source and content type), and the set-based reads and
 * writes of the importer's batches.
 */
import type { Sql } from '../../db/sql.js';

/** What an image row says about the image itself (its bytes and where they came from). */
export interface ImageFields {
  sha256: string;
  /** 'upload', 'url', 'import' or PRECOMPUTED_SOURCE */
  source: string;
  sourceUrl: string | null;
  contentType: string;
  byteSize: number;
  width: number;
  height: number;
}

/** An image row to insert: the image on a product, at a position. */
export interface NewImageRow extends ImageFields {
  productId: string;
  position: number;
}

export interface ImageRow extends NewImageRow {
  id: string;
  createdAt: Date;
}

export const IMAGE_COLUMNS = `i.id::text AS id, i.product_id::text AS "productId", i.sha256::text AS sha256, i.source, i.source_url AS "sourceUrl",
  i.content_type AS "contentType", i.byte_size AS "byteSize", i.width, i.height, i.position, i.created_at AS "createdAt"`;

/** `source` of an image imported with a precomputed embedding and no file (nothing to re-embed). */
export const PRECOMPUTED_SOURCE = 'precomputed';
export const PRECOMPUTED_CONTENT_TYPE = 'application/x-glimpse-precomputed';

/** An image already on one of the products: its id and position (the importer's deduplication). */
export interface ProductImageRef {
  id: string;
  productId: string;
  sha256: string;
  position: number;
}

export async function imagesOfProducts(sql: Sql, productIds: readonly string[]): Promise<ProductImageRef[]> {
  const rows = await sql.query<ProductImageRef>(
    `SELECT id::text AS id, product_id::text AS "productId", sha256::text AS sha256, position FROM product_image WHERE product_id = ANY($1::uuid[])`,
    [productIds],
  );
  return rows.map((r) => ({ ...r, sha256: r.sha256.trim(), position: Number(r.position) }));
}

/** Inserts image rows in one statement; returns their ids (with product and sha256, to match them up). */
export async function insertImageRows(
  sql: Sql,
  rows: readonly NewImageRow[],
): Promise<{ id: string; productId: string; sha256: string }[]> {
  if (!rows.length) return [];
  const col = <T>(f: (r: NewImageRow) => T) => rows.map(f);
  const inserted = await sql.query<{ id: string; productId: string; sha256: string }>(
    `INSERT INTO product_image (product_id, sha256, source, source_url, content_type, byte_size, width, height, position)
     SELECT * FROM unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $5::text[], $6::int[], $7::int[], $8::int[], $9::int[])
     RETURNING id::text AS id, product_id::text AS "productId", sha256::text AS sha256`,
    [
      col((r) => r.productId),
      col((r) => r.sha256),
      col((r) => r.source),
      col((r) => r.sourceUrl),
      col((r) => r.contentType),
      col((r) => r.byteSize),
      col((r) => r.width),
      col((r) => r.height),
      col((r) => r.position),
    ],
  );
  return inserted.map((r) => ({ ...r, sha256: r.sha256.trim() }));
}
