/**
 * The product_image table: its row type, the columns every image read selects, and the marks of an image that
 * came with a precomputed embedding and no file (source and content type), which the importer writes and the
 * re-embed job reads.
 */

export interface ImageRow {
  id: string;
  productId: string;
  sha256: string;
  source: string;
  sourceUrl: string | null;
  contentType: string;
  byteSize: number;
  width: number;
  height: number;
  position: number;
  createdAt: Date;
}

export const IMAGE_COLUMNS = `i.id::text AS id, i.product_id::text AS "productId", i.sha256::text AS sha256, i.source, i.source_url AS "sourceUrl",
  i.content_type AS "contentType", i.byte_size AS "byteSize", i.width, i.height, i.position, i.created_at AS "createdAt"`;

/** `source` of an image imported with a precomputed embedding and no file (nothing to re-embed). */
export const PRECOMPUTED_SOURCE = 'precomputed';
export const PRECOMPUTED_CONTENT_TYPE = 'application/x-glimpse-precomputed';
