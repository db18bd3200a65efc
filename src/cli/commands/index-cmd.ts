/**
 * `glimpse index status [--dimension N] [--json]` (with the running pgvector version, and a warning when it
 * lacks the HNSW vacuum fix) and
 * `glimpse index rebuild [--dimension 768] --type hnsw|ivfflat [--m 16] [--ef-construction 64] [--lists N]
 *  [--maintenance-work-mem 1GB] [--workers N] [--json]`: the vector index of each embedding table (src/catalog/store/vector-index.ts;
 * trade-offs in docs/search.md, "Choosing the index"). A rebuild builds the new index concurrently and swaps it
 * in atomically: searches keep running on the old index until the swap.
 */
import { Command, InvalidArgumentError } from 'commander';
import {
  VECTOR_INDEX_TYPES,
  formatParameters,
  indexStatus,
  rebuildIndex,
  type VectorIndexDetails,
  type VectorIndexType,
  type VectorTableStatus,
} from '../../catalog/store/vector-index.js';
import { pgvectorVersion, pgvectorWarning } from '../../db/pgvector-version.js';
import { EMBEDDING_DIMENSIONS, isEmbeddingDimension } from '../../catalog/store/embeddings.js';
import { withDatabase } from '../database.js';
import { formatTable } from '../table.js';

function positiveInt(v: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError('expected a positive integer');
  return n;
}

function dimensionArg(v: string): number {
  const n = positiveInt(v);
  if (!isEmbeddingDimension(n))
    throw new InvalidArgumentError(`no embedding table for ${n} (one of ${EMBEDDING_DIMENSIONS.join(', ')})`);
  return n;
}

function typeArg(v: string): VectorIndexType {
  if (!VECTOR_INDEX_TYPES.includes(v as VectorIndexType))
    throw new InvalidArgumentError(`expected ${VECTOR_INDEX_TYPES.join(' or ')}`);
  return v as VectorIndexType;
}

export function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  const units = ['kB', 'MB', 'GB', 'TB'];
  let v = n / 1024;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${v < 10 ? v.toFixed(1) : Math.round(v)} ${units[i]}`;
}

function describeIndex(i: VectorIndexDetails): string[] {
  return [
    i.name,
    i.type + (i.valid ? '' : ' (INVALID)'),
    formatParameters(i.parameters),
    i.opclass,
    formatBytes(i.bytes),
  ];
}

/** The status table printed by `glimpse index status`. */
export function formatIndexStatus(tables: readonly VectorTableStatus[]): string {
  const rows: string[][] = [['TABLE', 'ROWS', 'INDEX', 'TYPE', 'PARAMETERS', 'OPCLASS', 'SIZE']];
  for (const t of tables) {
    rows.push([t.table, String(t.rows), ...(t.index ? describeIndex(t.index) : ['(missing)', '', '', '', ''])]);
    for (const o of t.others) rows.push(['', '', ...describeIndex(o)]);
  }
  return formatTable(rows);
}

export default function register(program: Command): void {
  const index = program
    .command('index')
    .description('Vector indexes of the embedding tables: status, rebuild as HNSW or IVFFlat (docs/search.md)');

  index
    .command('status')
    .description('Type, parameters, size and row count of each embedding table’s vector index')
    .option('--dimension <n>', 'only the table of this dimension', dimensionArg)
    .option('--json', 'print JSON')
    .action(async (opts: { dimension?: number; json?: boolean }) => {
      const { version, tables } = await withDatabase(async (db) => ({
        version: await pgvectorVersion(db.sql),
        tables: await indexStatus(db.sql, opts.dimension),
      }));
      const warning = pgvectorWarning(version);
      if (opts.json) {
        process.stdout.write(JSON.stringify({ pgvector: { version, warning }, tables }, null, 2) + '\n');
        return;
      }
      process.stdout.write(`pgvector ${version ?? '(not installed)'}\n${formatIndexStatus(tables)}`);
      if (warning) process.stderr.write(`warning: ${warning}\n`);
    });

  index
    .command('rebuild')
    .description(
      'Replace a table’s vector index: built CONCURRENTLY under a temporary name, then swapped in one short ' +
        'transaction (the name embedding_{dim}_hnsw_idx is kept for every type: prisma/schema.prisma declares it)',
    )
    .requiredOption('--type <type>', 'hnsw or ivfflat', typeArg)
    .option('--dimension <n>', 'embedding table (512, 768 or 1024)', dimensionArg, 768)
    .option('--m <n>', 'hnsw: connections per node (2–100; default 16)', positiveInt)
    .option('--ef-construction <n>', 'hnsw: build candidate list (≥ 2·m; default 64)', positiveInt)
    .option('--lists <n>', 'ivfflat: lists (default rows/1000, at least 10; √rows above 1M rows)', positiveInt)
    .option('--maintenance-work-mem <size>', 'maintenance_work_mem of the build (default GLIMPSE_INDEX_BUILD_MEMORY)')
    .option('--workers <n>', 'parallel workers of the build (default GLIMPSE_INDEX_BUILD_WORKERS)', (v) =>
      v === '0' ? 0 : positiveInt(v),
    )
    .option('--json', 'print the result as JSON')
    .action(
      async (opts: {
        type: VectorIndexType;
        dimension: number;
        m?: number;
        efConstruction?: number;
        lists?: number;
        maintenanceWorkMem?: string;
        workers?: number;
        json?: boolean;
      }) => {
        const r = await withDatabase((db, config) =>
          rebuildIndex(db.sql, {
            dimension: opts.dimension,
            type: opts.type,
            m: opts.m,
            efConstruction: opts.efConstruction,
            lists: opts.lists,
            maintenanceWorkMem: opts.maintenanceWorkMem ?? config.indexBuildMemory,
            parallelWorkers: opts.workers ?? config.indexBuildWorkers,
            onProgress: opts.json ? undefined : (m) => process.stderr.write(`${m}\n`),
          }),
        );
        if (opts.json) {
          process.stdout.write(JSON.stringify(r, null, 2) + '\n');
          return;
        }
        const was = r.before ? `${r.before.type} ${formatParameters(r.before.parameters)}` : 'none';
        process.stdout.write(
          `${r.after.name}: ${r.after.type} ${formatParameters(r.after.parameters)} over ${r.rows} rows, ` +
            `${formatBytes(r.after.bytes)}, built in ${r.buildSeconds.toFixed(1)}s (was ${was})\n`,
        );
      },
    );
}
