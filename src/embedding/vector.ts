/**
 * Embedding vectors as numbers: the one check (a list of finite numbers of the model's dimension) and the one
 * L2 normalisation. The search service (query parts), the importer (precomputed embeddings) and the ONNX
 * worker (model outputs) all go through here, so "a vector Glimpse accepts" and "unit length" mean the same
 * everywhere. Pure functions, no I/O; callers turn a VectorError into their own typed error.
 */

/** Why a vector was refused. */
export type VectorProblem = 'not-a-list' | 'dimension' | 'not-finite' | 'zero' | 'encoding';

export class VectorError extends RangeError {
  constructor(
    readonly problem: VectorProblem,
    message: string,
    /** the offending component ('not-finite') */
    readonly index?: number,
  ) {
    super(message);
    this.name = 'VectorError';
  }
}

const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/**
 * A vector sent compactly: base64 of little-endian float32 values (4 bytes per component; a 768-d vector is
 * 4,096 characters instead of ~7–14 KB of JSON numbers, and one string to coerce instead of 768 floats).
 * Strict: anything but canonical base64 of a whole number of floats is a VectorError ('encoding'); the
 * dimension and finiteness are checked by checkedVector / unitVector like any other list.
 */
export function float32FromBase64(text: string): Float32Array {
  if (!BASE64.test(text)) throw new VectorError('encoding', 'is not base64 (RFC 4648, with padding)');
  const bytes = Buffer.from(text, 'base64');
  if (bytes.length % 4 !== 0)
    throw new VectorError('encoding', `decodes to ${bytes.length} bytes, not a whole number of float32 values`);
  const out = new Float32Array(bytes.length / 4);
  for (let i = 0; i < out.length; i++) out[i] = bytes.readFloatLE(i * 4);
  return out;
}

/** L2-normalises v[start, end) in place (a zero vector stays zero); returns the norm before. */
export function normaliseInPlace(v: Float32Array, start = 0, end = v.length): number {
  let s = 0;
  for (let i = start; i < end; i++) s += v[i]! * v[i]!;
  const n = Math.sqrt(s);
  if (n > 0) for (let i = start; i < end; i++) v[i] = v[i]! / n;
  return n;
}

/** L2-normalises each of the `rows` equal rows of a flat [rows, dim] matrix in place; returns dim. */
export function normaliseRowsInPlace(data: Float32Array, rows: number): number {
  const dim = data.length / rows;
  for (let r = 0; r < rows; r++) normaliseInPlace(data, r * dim, (r + 1) * dim);
  return dim;
}

/**
 * A copy of `values` as a Float32Array, after checking it is a list of `dimension` finite numbers.
 * Throws VectorError ('not-a-list', 'dimension', 'not-finite').
 */
export function checkedVector(values: unknown, dimension: number): Float32Array {
  const v = values as ArrayLike<unknown> | null | undefined;
  if (v == null || typeof v !== 'object' || typeof v.length !== 'number')
    throw new VectorError('not-a-list', 'must be a list of numbers');
  if (v.length !== dimension)
    throw new VectorError('dimension', `has ${v.length} dimensions; the model has ${dimension}`);
  const out = new Float32Array(dimension);
  for (let i = 0; i < dimension; i++) {
    const x = v[i];
    if (typeof x !== 'number' || !Number.isFinite(x))
      throw new VectorError('not-finite', `component ${i} is not a finite number`, i);
    out[i] = x;
  }
  return out;
}

/**
 * `values` as a unit vector of `dimension` (VectorError as checkedVector, or 'zero' for an all-zero one). The
 * largest magnitude is divided out first, in double precision, so components up to ±1.8e308 neither overflow
 * the sum of squares nor float32 (largest 3.4e38) and tiny ones do not underflow: cosine similarity only
 * depends on the direction.
 */
export function unitVector(values: unknown, dimension: number): Float32Array {
  checkedVector(values, dimension);
  const v = values as ArrayLike<number>;
  let max = 0;
  for (let i = 0; i < dimension; i++) max = Math.max(max, Math.abs(v[i]!));
  if (max === 0) throw new VectorError('zero', 'is all zeros');
  let sum = 0;
  for (let i = 0; i < dimension; i++) sum += (v[i]! / max) ** 2;
  const norm = Math.sqrt(sum); // of the scaled vector: ≥ 1, since its largest component is ±1
  const out = new Float32Array(dimension);
  for (let i = 0; i < dimension; i++) out[i] = v[i]! / max / norm;
  return out;
}
