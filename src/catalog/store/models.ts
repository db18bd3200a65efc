/**
 * The embedding-model registry (table embedding_model) and its statements: registering, listing, switching the
 * one active model, locking and forgetting a model. The loaded embedder's model is registered on first
 * use and becomes the active model when none is active yet; switching the active model is the re-embed
 * job's business, never implicit.
 */
import type { Sql } from '../../db/index.js';
import { notFound } from '../../errors.js';
import { countEmbeddings, embeddingTable } from './embeddings.js';

export interface ModelRow {
  id: string;
  name: string;
  dimension: number;
  active: boolean;
  isTest: boolean;
  createdAt: Date;
}

/** What the registry needs to know about a loaded model (src/embedding Embedder satisfies it). */
export interface ModelIdentity {
  readonly modelId: string;
  readonly dimension: number;
  readonly isTestModel?: boolean;
}

const COLUMNS = `id, name, dimension, active, is_test AS "isTest", created_at AS "createdAt"`;

export class ModelRegistry {
  private readonly ensured = new Map<string, Promise<ModelRow>>();

  constructor(private readonly sql: Sql) {}

  /** Registers the model (once per process and model) and activates it when no model is active. */
  ensure(model: ModelIdentity): Promise<ModelRow> {
    let p = this.ensured.get(model.modelId);
    if (!p) {
      p = this.register(model);
      this.ensured.set(model.modelId, p);
      p.catch(() => this.ensured.delete(model.modelId));
    }
    return p;
  }

  private async register(model: ModelIdentity): Promise<ModelRow> {
    embeddingTable(model.dimension); // a supported dimension, or throw before writing
    await this.sql.query(
      `INSERT INTO embedding_model (id, name, dimension, is_test) VALUES ($1, $2, $3, $4) ON CONFLICT (id) DO NOTHING`,
      [model.modelId, model.modelId, model.dimension, model.isTestModel ?? false],
    );
    try {
      await this.sql.query(
        `UPDATE embedding_model SET active = true WHERE id = $1 AND NOT EXISTS (SELECT 1 FROM embedding_model WHERE active)`,
        [model.modelId],
      );
    } catch (err) {
      // another process activated a model at the same moment (one-active unique index): that one wins
      if ((err as { code?: unknown }).code !== '23505') throw err;
    }
    const row = (
      await this.sql.query<ModelRow>(`SELECT ${COLUMNS} FROM embedding_model WHERE id = $1`, [model.modelId])
    )[0]!;
    if (row.dimension !== model.dimension) {
      throw new Error(
        `model ${model.modelId} is registered with dimension ${row.dimension} but the loaded model has ${model.dimension}`,
      );
    }
    return row;
  }

  async list(): Promise<ModelRow[]> {
    return this.sql.query<ModelRow>(`SELECT ${COLUMNS} FROM embedding_model ORDER BY active DESC, created_at, id`);
  }

  async active(): Promise<ModelRow | null> {
    return (await this.sql.query<ModelRow>(`SELECT ${COLUMNS} FROM embedding_model WHERE active`))[0] ?? null;
  }

  embeddedImageCount(modelId: string, dimension: number): Promise<number> {
    return countEmbeddings(this.sql, { modelId, dimension });
  }
}

/** Makes `modelId` the one active model, in the caller's transaction (old inactive and new active together). */
export async function switchActive(tx: Sql, modelId: string): Promise<void> {
  await tx.query('SELECT id FROM embedding_model FOR UPDATE');
  await tx.query('UPDATE embedding_model SET active = false WHERE active AND id <> $1', [modelId]);
  const rows = await tx.query('UPDATE embedding_model SET active = true WHERE id = $1 RETURNING id', [modelId]);
  if (!rows.length) throw notFound('model', modelId);
}

/** The active model's id, or null. */
export async function activeModelId(sql: Sql): Promise<string | null> {
  return (await sql.query<{ id: string }>('SELECT id FROM embedding_model WHERE active'))[0]?.id ?? null;
}

/** A model's row locked for the caller's transaction, or null. */
export async function lockModel(
  tx: Sql,
  modelId: string,
): Promise<{ id: string; dimension: number; active: boolean } | null> {
  const row = (
    await tx.query<{ id: string; dimension: number; active: boolean }>(
      'SELECT id, dimension, active FROM embedding_model WHERE id = $1 FOR UPDATE',
      [modelId],
    )
  )[0];
  return row ? { ...row, dimension: Number(row.dimension) } : null;
}

/** Removes a model's registry row (its vectors first: deleteEmbeddings). */
export async function forgetModel(sql: Sql, modelId: string): Promise<void> {
  await sql.query('DELETE FROM embedding_model WHERE id = $1', [modelId]);
}
