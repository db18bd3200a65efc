/**
 * The product_image table: its row type, the columns every image read selects, the marks of an image that
 * came with a precomputed embedding and no file (source and content type), and every statement on it — the
 * reads of the API and the image service, positions, and the set-based writes of the importer's batches.
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

/** Images in the catalog. */
export async function countImages(sql: Sql): Promise<number> {
  return Number((await sql.query<{ n: number }>('SELECT count(*)::int AS n FROM product_image'))[0]?.n ?? 0);
}

/** The product's image with these bytes, or null. */
export async function imageOfProduct(sql: Sql, productId: string, sha256: string): Promise<ImageRow | null> {
  const rows = await sql.query<ImageRow>(
    `SELECT ${IMAGE_COLUMNS} FROM product_image i WHERE i.product_id = $1::uuid AND i.sha256 = $2`,
    [productId, sha256],
  );
  return rows[0] ?? null;
}

/** The position after the product's last image (0 for none). */
export async function nextImagePosition(sql: Sql, productId: string): Promise<number> {
  const rows = await sql.query<{ n: number | null }>(
    'SELECT max(position) AS n FROM product_image WHERE product_id = $1::uuid',
    [productId],
  );
  const max = rows[0]?.n;
  return max === null || max === undefined ? 0 : Number(max) + 1;
}

export async function insertImageRow(sql: Sql, row: NewImageRow): Promise<ImageRow> {
  const rows = await sql.query<ImageRow>(
    `INSERT INTO product_image AS i (product_id, sha256, source, source_url, content_type, byte_size, width, height, position)
     VALUES ($1::uuid, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING ${IMAGE_COLUMNS}`,
    [
      row.productId,
      row.sha256,
      row.source,
      row.sourceUrl,
      row.contentType,
      row.byteSize,
      row.width,
      row.height,
      row.position,
    ],
  );
  return rows[0]!;
}

/** Deletes an image row (vectors cascade) and moves the product's later images up one; false when it was gone. */
export async function deleteImageRow(
  sql: Sql,
  image: Pick<ImageRow, 'id' | 'productId' | 'position'>,
): Promise<boolean> {
  const deleted = await sql.query('DELETE FROM product_image WHERE id = $1::uuid RETURNING id', [image.id]);
  if (!deleted.length) return false;
  await sql.query('UPDATE product_image SET position = position - 1 WHERE product_id = $1::uuid AND position > $2', [
    image.productId,
    image.position,
  ]);
  return true;
}

export async function imageIdsOfProduct(sql: Sql, productId: string): Promise<string[]> {
  const rows = await sql.query<{ id: string }>('SELECT id::text AS id FROM product_image WHERE product_id = $1::uuid', [
    productId,
  ]);
  return rows.map((r) => r.id);
}

/** Sets the positions of the product's images to the order of `imageIds` (0, 1, …). */
export async function setImageOrder(sql: Sql, productId: string, imageIds: readonly string[]): Promise<void> {
  await sql.query(
    `UPDATE product_image i SET position = o.pos - 1
     FROM unnest($1::uuid[]) WITH ORDINALITY AS o(id, pos) WHERE i.id = o.id AND i.product_id = $2::uuid`,
    [imageIds, productId],
  );
}

/** Images of the products, each product's in display order. */
export async function imagesOfProductIds(sql: Sql, productIds: readonly string[]): Promise<ImageRow[]> {
  if (!productIds.length) return [];
  return sql.query<ImageRow>(
    `SELECT ${IMAGE_COLUMNS} FROM product_image i WHERE i.product_id = ANY($1::uuid[]) ORDER BY i.product_id, i.position, i.id`,
    [productIds],
  );
}

export async function imagesByIds(sql: Sql, ids: readonly string[]): Promise<ImageRow[]> {
  if (!ids.length) return [];
  return sql.query<ImageRow>(`SELECT ${IMAGE_COLUMNS} FROM product_image i WHERE i.id = ANY($1::uuid[])`, [ids]);
}

/** The distinct image files of a product (before deleting it: the files to clean up afterwards). */
export async function imageFilesOfProduct(sql: Sql, productId: string): Promise<string[]> {
  const rows = await sql.query<{ sha256: string }>('SELECT sha256 FROM product_image WHERE product_id = $1::uuid', [
    productId,
  ]);
  return [...new Set(rows.map((r) => r.sha256.trim()))];
}

/**
 * Takes the per-image advisory lock for the rest of the transaction `tx`: file writes and the clean-up of
 * unreferenced files serialise on it, in every process (./../image-store.ts).
 */
export async function lockImage(tx: Sql, sha256: string): Promise<void> {
  await tx.query('SELECT pg_advisory_xact_lock(hashtextextended($1, 7305))', [`glimpse-image:${sha256}`]);
}

/** The same lock without waiting: false while a live writer holds it. */
export async function tryLockImage(tx: Sql, sha256: string): Promise<boolean> {
  const r = await tx.query<{ ok: boolean }>('SELECT pg_try_advisory_xact_lock(hashtextextended($1, 7305)) AS ok', [
    `glimpse-image:${sha256}`,
  ]);
  return r[0]!.ok;
}

/** Whether any image row references the file. */
export async function imageFileReferenced(sql: Sql, sha256: string): Promise<boolean> {
  return (await sql.query('SELECT 1 FROM product_image WHERE sha256 = $1 LIMIT 1', [sha256])).length > 0;
}

/** Of these files, the ones an image row references. */
export async function referencedImageFiles(sql: Sql, sha256s: readonly string[]): Promise<string[]> {
  const rows = await sql.query<{ sha256: string }>(
    'SELECT DISTINCT sha256 FROM product_image WHERE sha256 = ANY($1::bpchar[])',
    [sha256s],
  );
  return rows.map((r) => r.sha256.trim());
}
