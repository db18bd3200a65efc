import { describe, expect, it } from 'vitest';
import { decodeCursor, encodeCursor } from '../../../src/catalog/cursor.js';
import { normaliseFilter } from '../../../src/catalog/filter.js';
import {
  normaliseCategory,
  validateAmount,
  validateProductInput,
  validateProductPatch,
} from '../../../src/catalog/validation.js';
import { DateTimeScalar, DecimalScalar, JSONScalar } from '../../../src/graphql/resolvers/scalars.js';

describe('catalog validation', () => {
  it('normalises category paths', () => {
    expect(normaliseCategory(' Women / Dresses//Summer  Sale ')).toBe('women/dresses/summer sale');
    expect(normaliseCategory('///')).toBeNull();
    expect(normaliseCategory(null)).toBeNull();
    expect(() => normaliseCategory('a\u0000b')).toThrow(/control/);
  });

  it('canonicalises amounts', () => {
    expect(validateAmount('0')).toBe('0.00');
    expect(validateAmount('007.5')).toBe('7.50');
    expect(validateAmount(12.25)).toBe('12.25');
    for (const bad of ['-1', '1.234', '12345678901', 'abc', '', '1e3'])
      expect(() => validateAmount(bad), bad).toThrow();
  });

  it('validates a product input', () => {
    const f = validateProductInput({
      sku: ' A-1 ',
      title: ' T ',
      tags: [' x', 'x', 'y'],
      price: { amount: '1', currency: 'JPY' },
      description: '  ',
    });
    expect(f).toMatchObject({
      sku: 'A-1',
      title: 'T',
      tags: ['x', 'y'],
      price: { amount: '1.00', currency: 'JPY' },
      description: null,
      inStock: true,
      attributes: {},
    });
    expect(() => validateProductInput({ sku: 'A', title: 'T', price: { amount: '1', currency: 'EURO' } })).toThrow(
      /ISO 4217/,
    );
    expect(() => validateProductInput({ sku: '-A', title: 'T' })).toThrow(/sku/);
    expect(() => validateProductInput({ sku: 'A', title: 'T', attributes: { k: { deep: 1 } } })).toThrow(/attributes/);
    expect(() => validateProductInput({ sku: 'A', title: 'T', attributes: { big: 'x'.repeat(17_000) } })).toThrow(
      /bytes/,
    );
  });

  it('keeps absent patch fields absent and clears nulls', () => {
    expect(validateProductPatch({ description: null })).toEqual({ description: null });
    expect(validateProductPatch({})).toEqual({});
    expect(() => validateProductPatch({ title: null })).toThrow(/cleared/);
  });

  it('normalises filters', () => {
    expect(
      normaliseFilter({ category: 'Women/Dresses', price: { min: '5', currency: 'EUR' }, tagsAny: [' a '] }),
    ).toEqual({
      category: 'women/dresses',
      categoryExact: false,
      price: { min: '5.00', max: null, currency: 'EUR' },
      tagsAny: ['a'],
    });
    expect(() => normaliseFilter({ price: { min: '5', max: '1', currency: 'EUR' } })).toThrow(/min/);
    expect(() => normaliseFilter({ attributes: [{ key: 'c', equals: 'x', in: ['y'] }] })).toThrow(/exactly one/);
  });
});

describe('cursors', () => {
  it('round-trips and rejects tampering or another ordering', () => {
    const c = encodeCursor('TITLE', ['abc', '00000000-0000-4000-8000-000000000000']);
    expect(decodeCursor(c, 'TITLE', 2)).toEqual(['abc', '00000000-0000-4000-8000-000000000000']);
    expect(() => decodeCursor(c, 'NEWEST', 2)).toThrow(/another ordering/);
    expect(() => decodeCursor('!!!', 'TITLE', 2)).toThrow(/malformed/);
    expect(() => decodeCursor(Buffer.from('{"v":1,"o":"TITLE","k":[{}]}').toString('base64url'), 'TITLE', 1)).toThrow(
      /malformed/,
    );
  });
});

describe('scalars', () => {
  it('Decimal', () => {
    expect(DecimalScalar.parseValue('19.9')).toBe('19.90');
    expect(DecimalScalar.parseValue(5)).toBe('5.00');
    expect(() => DecimalScalar.parseValue('1.999')).toThrow(/Decimal/);
    expect(() => DecimalScalar.parseValue('1e5')).toThrow(/Decimal/);
    expect(DecimalScalar.serialize('12.5')).toBe('12.50');
  });
  it('DateTime', () => {
    expect((DateTimeScalar.parseValue('2026-01-31T12:00:00+01:00') as Date).toISOString()).toBe(
      '2026-01-31T11:00:00.000Z',
    );
    expect(() => DateTimeScalar.parseValue('yesterday')).toThrow(/DateTime/);
    expect(() => DateTimeScalar.parseValue('2026-13-45T00:00:00Z')).toThrow(/DateTime/);
    expect(DateTimeScalar.serialize(new Date(0))).toBe('1970-01-01T00:00:00.000Z');
  });
  it('JSON', () => {
    expect(JSONScalar.parseValue({ a: 1 })).toEqual({ a: 1 });
    expect(() => JSONScalar.parseValue([1])).toThrow(/object/);
    expect(() => JSONScalar.parseValue('x')).toThrow(/object/);
  });
});
