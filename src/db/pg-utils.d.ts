/**
 * node-postgres's own value conversion (pg/lib/utils.js), which @types/pg does not declare: how a bound
 * parameter is turned into its text form (./postgres.ts writes parameters in as literals with it).
 */
declare module 'pg/lib/utils.js' {
  /** a JS value as PostgreSQL text: arrays as array literals, dates with their offset; Buffers stay binary */
  export function prepareValue(value: unknown): string | Buffer | null;
}
