/**
 * Pillow's 8-bit convolution resampler (libImaging/Resample.c), ported to compute only a window of the
 * output: what CLIP's preprocessing keeps after the centre crop. Same coefficients, same 22-bit fixed-point
 * rounding, same horizontal-then-vertical order with an 8-bit intermediate, so a window of
 * `Image.resize((outW, outH), filter)` comes out bit-identical.
 */

export type ResampleFilter = 'nearest' | 'box' | 'bilinear' | 'hamming' | 'bicubic' | 'lanczos';

/** PIL's resample codes (Image.Resampling) as found in preprocessor_config.json. */
export const PIL_RESAMPLE: Record<number, ResampleFilter> = {
  0: 'nearest',
  1: 'lanczos',
  2: 'bilinear',
  3: 'bicubic',
  4: 'box',
  5: 'hamming',
};

interface Filter {
  support: number;
  fn: (x: number) => number;
}

const sinc = (x: number) => {
  if (x === 0) return 1;
  const px = x * Math.PI;
  return Math.sin(px) / px;
};

const FILTERS: Record<Exclude<ResampleFilter, 'nearest'>, Filter> = {
  box: { support: 0.5, fn: (x) => (x > -0.5 && x <= 0.5 ? 1 : 0) },
  bilinear: {
    support: 1,
    fn: (x) => {
      const ax = Math.abs(x);
      return ax < 1 ? 1 - ax : 0;
    },
  },
  hamming: {
    support: 1,
    fn: (x) => {
      const ax = Math.abs(x);
      if (ax === 0) return 1;
      if (ax >= 1) return 0;
      const px = ax * Math.PI;
      return (Math.sin(px) / px) * (0.54 + 0.46 * Math.cos(px));
    },
  },
  bicubic: {
    support: 2,
    fn: (x) => {
      const a = -0.5;
      const ax = Math.abs(x);
      if (ax < 1) return ((a + 2) * ax - (a + 3)) * ax * ax + 1;
      if (ax < 2) return (((ax - 5) * ax + 8) * ax - 4) * a;
      return 0;
    },
  },
  lanczos: { support: 3, fn: (x) => (x >= -3 && x < 3 ? sinc(x) * sinc(x / 3) : 0) },
};

const PRECISION_BITS = 32 - 8 - 2;
const ROUND_INIT = 1 << (PRECISION_BITS - 1);
const SCALE = 1 << PRECISION_BITS;

/** Coefficients for output positions [from, to) of an inSize -> outSize resize (PIL precompute_coeffs). */
interface Coeffs {
  ksize: number;
  /** per output position: first source index */
  min: Int32Array;
  /** per output position: number of taps */
  len: Int32Array;
  /** fixed-point taps, ksize per output position */
  k: Int32Array;
}

function precompute(inSize: number, outSize: number, from: number, to: number, filter: ResampleFilter): Coeffs {
  const n = to - from;
  const scale = inSize / outSize;
  if (filter === 'nearest') {
    // PIL resizes with NEAREST through an affine transform: source = floor((x + 0.5) * scale)
    const min = new Int32Array(n);
    const len = new Int32Array(n).fill(1);
    const k = new Int32Array(n).fill(SCALE);
    for (let i = 0; i < n; i++) min[i] = Math.min(inSize - 1, Math.floor((from + i + 0.5) * scale));
    return { ksize: 1, min, len, k };
  }
  const f = FILTERS[filter];
  const filterscale = Math.max(scale, 1);
  const support = f.support * filterscale;
  const ksize = Math.ceil(support) * 2 + 1;
  const min = new Int32Array(n);
  const len = new Int32Array(n);
  const k = new Int32Array(n * ksize);
  const w = new Float64Array(ksize);
  const ss = 1 / filterscale;
  for (let i = 0; i < n; i++) {
    const xx = from + i;
    const center = (xx + 0.5) * scale;
    let xmin = Math.trunc(center - support + 0.5);
    if (xmin < 0) xmin = 0;
    let xmax = Math.trunc(center + support + 0.5);
    if (xmax > inSize) xmax = inSize;
    xmax -= xmin;
    let ww = 0;
    for (let x = 0; x < xmax; x++) {
      const v = f.fn((x + xmin - center + 0.5) * ss);
      w[x] = v;
      ww += v;
    }
    for (let x = 0; x < xmax; x++) {
      const v = ww !== 0 ? w[x]! / ww : w[x]!;
      k[i * ksize + x] = v < 0 ? Math.trunc(-0.5 + v * SCALE) : Math.trunc(0.5 + v * SCALE);
    }
    min[i] = xmin;
    len[i] = xmax;
  }
  return { ksize, min, len, k };
}

/** PIL's clip8: the 22-bit fixed-point sum to a byte (sums stay below 2^31, as in PIL's int32). */
const clip8 = (v: number) => {
  if (v <= 0) return 0;
  if (v >= 256 * SCALE) return 255;
  return v >> PRECISION_BITS;
};

export interface ResampleWindow {
  /** output columns [x0, x1) and rows [y0, y1) of the full outW x outH resize */
  x0: number;
  x1: number;
  y0: number;
  y1: number;
}

export interface ResamplePlan {
  /** Source rectangle (in full-input coordinates) the window needs. */
  source: { left: number; top: number; width: number; height: number };
  run(src: Uint8Array, channels: number): Uint8Array;
}

/**
 * Plan a PIL-exact resize of an inW x inH image to outW x outH, computing only `win`. `plan.source` is the
 * part of the input needed; `plan.run` takes exactly those pixels (interleaved, `channels` per pixel) and
 * returns the window, interleaved, (x1 - x0) x (y1 - y0).
 */
export function planResample(
  inW: number,
  inH: number,
  outW: number,
  outH: number,
  win: ResampleWindow,
  filter: ResampleFilter,
): ResamplePlan {
  const needH = outW !== inW;
  const needV = outH !== inH;
  const wOut = win.x1 - win.x0;
  const hOut = win.y1 - win.y0;
  const identity = (from: number, to: number): Coeffs => {
    const n = to - from;
    const min = new Int32Array(n);
    for (let i = 0; i < n; i++) min[i] = from + i;
    return { ksize: 1, min, len: new Int32Array(n).fill(1), k: new Int32Array(n).fill(SCALE) };
  };
  const ch = needH ? precompute(inW, outW, win.x0, win.x1, filter) : identity(win.x0, win.x1);
  const cv = needV ? precompute(inH, outH, win.y0, win.y1, filter) : identity(win.y0, win.y1);
  const span = (c: Coeffs) => {
    let lo = Infinity;
    let hi = -Infinity;
    for (let i = 0; i < c.min.length; i++) {
      lo = Math.min(lo, c.min[i]!);
      hi = Math.max(hi, c.min[i]! + c.len[i]!);
    }
    return { lo, hi };
  };
  const sx = span(ch);
  const sy = span(cv);
  const source = { left: sx.lo, top: sy.lo, width: sx.hi - sx.lo, height: sy.hi - sy.lo };

  const run = (src: Uint8Array, channels: number): Uint8Array => {
    if (src.length !== source.width * source.height * channels) throw new Error('resample: source size mismatch');
    // horizontal pass over the needed source rows -> wOut x source.height (8-bit, as PIL keeps it)
    let tmp: Uint8Array;
    if (needH) {
      tmp = new Uint8Array(wOut * source.height * channels);
      const kk = ch.k;
      // int32 sums, as PIL's: |sum| < 2^31 for 8-bit input and normalised 22-bit taps
      const acc = new Int32Array(channels);
      for (let y = 0; y < source.height; y++) {
        const row = y * source.width * channels;
        let o = y * wOut * channels;
        for (let i = 0; i < wOut; i++) {
          const base = i * ch.ksize;
          const n = ch.len[i]!;
          let at = row + (ch.min[i]! - source.left) * channels;
          if (channels === 3) {
            let s0 = ROUND_INIT;
            let s1 = ROUND_INIT;
            let s2 = ROUND_INIT;
            for (let x = 0; x < n; x++, at += 3) {
              const k = kk[base + x]!;
              s0 = (s0 + src[at]! * k) | 0;
              s1 = (s1 + src[at + 1]! * k) | 0;
              s2 = (s2 + src[at + 2]! * k) | 0;
            }
            tmp[o++] = clip8(s0);
            tmp[o++] = clip8(s1);
            tmp[o++] = clip8(s2);
          } else {
            acc.fill(ROUND_INIT);
            for (let x = 0; x < n; x++, at += channels) {
              const k = kk[base + x]!;
              for (let c = 0; c < channels; c++) acc[c] = (acc[c]! + src[at + c]! * k) | 0;
            }
            for (let c = 0; c < channels; c++) tmp[o++] = clip8(acc[c]!);
          }
        }
      }
    } else {
      tmp = src; // source.width === wOut here (identity columns)
    }
    if (!needV) {
      return tmp === src ? src.slice() : tmp;
    }
    // vertical pass, a whole output row at a time: each tap adds a contiguous source row (cache-friendly)
    const rowLen = wOut * channels;
    const out = new Uint8Array(rowLen * hOut);
    const acc = new Int32Array(rowLen);
    for (let j = 0; j < hOut; j++) {
      const base = j * cv.ksize;
      const n = cv.len[j]!;
      const first = (cv.min[j]! - source.top) * rowLen;
      acc.fill(ROUND_INIT);
      for (let y = 0; y < n; y++) {
        const k = cv.k[base + y]!;
        const from = first + y * rowLen;
        for (let x = 0; x < rowLen; x++) acc[x] = (acc[x]! + tmp[from + x]! * k) | 0;
      }
      const o = j * rowLen;
      for (let x = 0; x < rowLen; x++) out[o + x] = clip8(acc[x]!);
    }
    return out;
  };
  return { source, run };
}
