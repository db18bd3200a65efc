/**
 * Custom scalars with validation: Decimal (string, ≤ 10 integer and ≤ 2 fraction digits), DateTime (ISO 8601
 * with a zone), JSON (an object), Upload (graphql-upload-minimal). Invalid values fail validation with
 * BAD_USER_INPUT before any resolver runs.
 */
import { GraphQLError, GraphQLScalarType, Kind, valueFromASTUntyped, type ValueNode } from 'graphql';
import { GraphQLUpload } from 'graphql-upload-minimal';

const DECIMAL_RE = /^-?\d{1,10}(\.\d{1,2})?$/;
const ISO_RE = /^\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:?\d{2}))?$/;

function invalid(message: string): GraphQLError {
  return new GraphQLError(message, { extensions: { code: 'BAD_USER_INPUT' } });
}

function parseDecimal(v: unknown): string {
  const s = typeof v === 'number' && Number.isFinite(v) ? String(v) : v;
  if (typeof s !== 'string' || !DECIMAL_RE.test(s.trim())) {
    throw invalid(
      `Decimal: expected a decimal string with at most 10 integer and 2 fraction digits, e.g. "19.90"; got ${JSON.stringify(v)}`,
    );
  }
  const t = s.trim();
  const neg = t.startsWith('-');
  const [int, frac = ''] = (neg ? t.slice(1) : t).split('.');
  return `${neg ? '-' : ''}${BigInt(int!)}.${frac.padEnd(2, '0')}`;
}

export const DecimalScalar = new GraphQLScalarType({
  name: 'Decimal',
  description: 'A decimal number as a string, at most 10 integer digits and 2 fraction digits (e.g. "19.90").',
  serialize(v) {
    if (typeof v === 'string' || typeof v === 'number') {
      const s = String(v);
      if (/^-?\d+(\.\d+)?$/.test(s)) {
        const [int, frac = ''] = s.split('.');
        return `${int}.${frac.padEnd(2, '0')}`;
      }
    }
    throw new GraphQLError(`Decimal cannot represent ${JSON.stringify(v)}`);
  },
  parseValue: parseDecimal,
  parseLiteral(ast) {
    if (ast.kind === Kind.STRING || ast.kind === Kind.INT || ast.kind === Kind.FLOAT)
      return parseDecimal(ast.kind === Kind.STRING ? ast.value : Number(ast.value));
    throw invalid('Decimal: expected a string');
  },
});

function parseDateTime(v: unknown): Date {
  if (typeof v !== 'string' || !ISO_RE.test(v)) {
    throw invalid(
      `DateTime: expected an ISO 8601 date-time with a time zone, e.g. "2026-01-31T12:00:00Z"; got ${JSON.stringify(v)}`,
    );
  }
  const d = new Date(v);
  if (Number.isNaN(d.getTime())) throw invalid(`DateTime: ${JSON.stringify(v)} is not a valid date`);
  return d;
}

export const DateTimeScalar = new GraphQLScalarType({
  name: 'DateTime',
  description: 'An instant in time, ISO 8601 with a time zone; returned in UTC.',
  serialize(v) {
    const d = v instanceof Date ? v : typeof v === 'string' || typeof v === 'number' ? new Date(v) : null;
    if (!d || Number.isNaN(d.getTime())) throw new GraphQLError(`DateTime cannot represent ${JSON.stringify(v)}`);
    return d.toISOString();
  },
  parseValue: parseDateTime,
  parseLiteral(ast) {
    if (ast.kind !== Kind.STRING) throw invalid('DateTime: expected a string');
    return parseDateTime(ast.value);
  },
});

function parseObject(v: unknown): Record<string, unknown> {
  if (v === null || typeof v !== 'object' || Array.isArray(v)) throw invalid('JSON: expected a JSON object');
  return v as Record<string, unknown>;
}

export const JSONScalar = new GraphQLScalarType({
  name: 'JSON',
  description: 'A JSON object.',
  serialize(v) {
    if (typeof v === 'string') {
      try {
        return parseObject(JSON.parse(v));
      } catch {
        throw new GraphQLError('JSON cannot represent a non-object');
      }
    }
    if (v === null || typeof v !== 'object' || Array.isArray(v))
      throw new GraphQLError('JSON cannot represent a non-object');
    return v;
  },
  parseValue: parseObject,
  parseLiteral(ast: ValueNode, variables?: Record<string, unknown> | null) {
    if (ast.kind !== Kind.OBJECT) throw invalid('JSON: expected an object');
    return parseObject(valueFromASTUntyped(ast, variables ?? undefined));
  },
});

export const scalarResolvers = {
  Decimal: DecimalScalar,
  DateTime: DateTimeScalar,
  JSON: JSONScalar,
  Upload: GraphQLUpload,
};
