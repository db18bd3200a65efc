/**
 * The synonym groups' statements (./synonyms.ts): read them all for the expansion cache, and the admin's writes.
 * A write locks the table (SHARE ROW EXCLUSIVE: writes wait for each other, searches' reads do not) so that the
 * check "no term is in another group" and the write are one step even with several API replicas.
 */
import { Params, type BuiltQuery } from '../db/sql.js';

/** Every group, oldest first, at most `limit`. */
export function buildSynonymGroups(limit: number): BuiltQuery {
  const params = new Params();
  return {
    shape: 'synonym-groups',
    settings: null,
    text: `SELECT id::text AS id, terms, created_at, updated_at FROM search_synonym ORDER BY created_at, id LIMIT ${params.add(limit, 'int')}`,
    params: params.values,
  };
}

/** Serialises the admin's writes (run first in their transaction). */
export const LOCK_SYNONYMS = 'LOCK TABLE search_synonym IN SHARE ROW EXCLUSIVE MODE';

/** The groups other than `id` sharing a term with `terms`, and the number of groups. */
export function buildSynonymConflicts(terms: readonly string[], id: string | null): BuiltQuery {
  const params = new Params();
  const t = params.add([...terms], 'text[]');
  const group = params.add(id, 'uuid');
  const text = `SELECT (SELECT count(*)::int FROM search_synonym) AS groups,
  (SELECT count(*)::int FROM search_synonym WHERE id = ${group}) AS found,
  (SELECT array_agg(DISTINCT x ORDER BY x) FROM search_synonym s, unnest(s.terms) x
   WHERE s.id IS DISTINCT FROM ${group} AND x = ANY(${t})) AS taken`;
  return { shape: 'synonym-conflicts', settings: null, text, params: params.values };
}

/** Creates a group (id null) or replaces its terms; returns the row. */
export function buildSaveSynonyms(terms: readonly string[], id: string | null): BuiltQuery {
  const params = new Params();
  const t = params.add([...terms], 'text[]');
  const text =
    id === null
      ? `INSERT INTO search_synonym (terms) VALUES (${t}) RETURNING id::text AS id, terms, created_at, updated_at`
      : `UPDATE search_synonym SET terms = ${t}, updated_at = now() WHERE id = ${params.add(id, 'uuid')}
RETURNING id::text AS id, terms, created_at, updated_at`;
  return { shape: id === null ? 'synonym-insert' : 'synonym-update', settings: null, text, params: params.values };
}

export function buildDeleteSynonyms(id: string): BuiltQuery {
  const params = new Params();
  return {
    shape: 'synonym-delete',
    settings: null,
    text: `DELETE FROM search_synonym WHERE id = ${params.add(id, 'uuid')} RETURNING id`,
    params: params.values,
  };
}
