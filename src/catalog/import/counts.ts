/**
 * What an import counts and what it rejects: the counters a batch adds up (products imported / updated /
 * rejected, images added / embedded / precomputed / duplicate / rejected), kept per run and per job (in the
 * job row's params), and the reject line written to the rejects file. Plain values and pure functions.
 */

export interface ImageCounts {
  /** new image rows */
  added: number;
  /** of `added`: embedded by the model */
  embedded: number;
  /** of `added`: precomputed vectors accepted */
  precomputed: number;
  /** already on the product (same sha256), or twice in one record */
  duplicate: number;
  rejected: number;
}

export interface ImportCounts {
  /** new products */
  imported: number;
  /** existing skus whose fields changed */
  updated: number;
  /** existing skus as they were stored: not written */
  unchanged: number;
  /** records committed by an earlier run of this job (resume) */
  skipped: number;
  /** records not imported (parse or validation error) */
  rejected: number;
  images: ImageCounts;
}

/** One line of the rejects file (JSON Lines). */
export interface RejectLine {
  record: number;
  /** file line the record starts on (JSONL: the record number; CSV: rows may span lines, the header is line 1) */
  line: number;
  sku: string | null;
  /** index in the record's images when the reject is about one image */
  image?: number;
  ref?: string;
  code: string;
  message: string;
}

export const emptyCounts = (): ImportCounts => ({
  imported: 0,
  updated: 0,
  unchanged: 0,
  skipped: 0,
  rejected: 0,
  images: { added: 0, embedded: 0, precomputed: 0, duplicate: 0, rejected: 0 },
});

export function addCounts(a: ImportCounts, b: ImportCounts): ImportCounts {
  return {
    imported: a.imported + b.imported,
    updated: a.updated + b.updated,
    // counts saved by a job of an earlier version have no `unchanged`
    unchanged: (a.unchanged ?? 0) + (b.unchanged ?? 0),
    skipped: a.skipped + b.skipped,
    rejected: a.rejected + b.rejected,
    images: {
      added: a.images.added + b.images.added,
      embedded: a.images.embedded + b.images.embedded,
      precomputed: a.images.precomputed + b.images.precomputed,
      duplicate: a.images.duplicate + b.images.duplicate,
      rejected: a.images.rejected + b.images.rejected,
    },
  };
}

/** Counts of `rejected` records (a reject about a whole record) and of rejected images. */
export function rejectCounts(rejects: readonly RejectLine[]): ImportCounts {
  const c = emptyCounts();
  c.rejected = rejects.filter((r) => r.image === undefined).length;
  c.images.rejected = rejects.length - c.rejected;
  return c;
}

/** Rejects in file order: by record, a record's own reject before its images'. */
export function sortRejects(rejects: RejectLine[]): RejectLine[] {
  return rejects.sort((a, b) => a.record - b.record || (a.image ?? -1) - (b.image ?? -1));
}
