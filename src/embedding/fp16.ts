/** IEEE 754 half-precision conversions (Node 20 has no Float16Array). */

/** fp32 -> IEEE half (round to nearest even), as uint16 bits. */
const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);
export function toHalfBits(value: number): number {
  f32[0] = value;
  return halfBitsOfFloat32Bits(u32[0]!);
}

/** The bits of an fp32 (as uint32) -> IEEE half (round to nearest even), as uint16 bits. */
export function halfBitsOfFloat32Bits(x: number): number {
  const sign = (x >>> 16) & 0x8000;
  const exp = (x >>> 23) & 0xff;
  let mant = x & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 : 0);
  let e = exp - 127 + 15;
  if (e >= 0x1f) return sign | 0x7c00;
  if (e <= 0) {
    if (e < -10) return sign;
    mant |= 0x800000;
    const shift = 14 - e;
    let half = mant >>> shift;
    const rem = mant & ((1 << shift) - 1);
    const mid = 1 << (shift - 1);
    if (rem > mid || (rem === mid && half & 1)) half++;
    return sign | half;
  }
  let half = (e << 10) | (mant >>> 13);
  const rem = mant & 0x1fff;
  if (rem > 0x1000 || (rem === 0x1000 && half & 1)) half++;
  e = half; // may carry into the exponent, which is the correct rounding
  return sign | e;
}

/** IEEE half bits -> number. */
export function fromHalfBits(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >>> 10) & 0x1f;
  const mant = h & 0x3ff;
  if (exp === 0) return sign * mant * 2 ** -24;
  if (exp === 0x1f) return mant ? NaN : sign * Infinity;
  return sign * (1 + mant / 1024) * 2 ** (exp - 15);
}
