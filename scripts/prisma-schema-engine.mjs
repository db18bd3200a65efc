#!/usr/bin/env node
// Offline stand-in for Prisma's native `schema-engine` binary.
//
// `prisma migrate …` spawns the binary named by PRISMA_SCHEMA_ENGINE_BINARY and talks to it the way it talks to
// the native engine: JSON-RPC 2.0 over stdin/stdout (one JSON object per line), started as
//   schema-engine [--datamodels FILE]… [--datasource JSON] [--enabled-preview-features A,B] [--extension-types JSON]
// plus one-shot commands `schema-engine --datasource JSON cli can-connect-to-database|create-database|drop-database`
// and `schema-engine --version`. This script serves that protocol with Prisma's own WebAssembly build of the schema
// engine (@prisma/schema-engine-wasm) running over @prisma/adapter-pg, so no engine download is needed.
// prisma.config.ts points PRISMA_SCHEMA_ENGINE_BINARY here in offline mode; see docs/migrations.md.
import { readFile } from 'node:fs/promises';
import { randomUUID } from 'node:crypto';
import { createInterface } from 'node:readline';
import pg from 'pg';
import { PrismaPg } from '@prisma/adapter-pg';
import { bindMigrationAwareSqlAdapterFactory } from '@prisma/driver-adapter-utils';
import * as wasmGlue from '@prisma/schema-engine-wasm/schema_engine_bg';

const { WebAssembly } = globalThis;

// ---------------------------------------------------------------------------------------------------------------
// Command line

function parseArgs(argv) {
  const args = { datamodels: [], datasource: {}, previewFeatures: [], cli: null, version: false, help: false };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    const value = () => {
      if (i + 1 >= argv.length) fail(`missing value for ${arg}`);
      return argv[++i];
    };
    switch (arg) {
      case '--datamodels':
      case '-d':
        args.datamodels.push(value());
        break;
      case '--datasource':
        args.datasource = JSON.parse(value());
        break;
      case '--enabled-preview-features':
        args.previewFeatures = value().split(',').filter(Boolean);
        break;
      case '--extension-types':
        value(); // the wasm engine takes no extension types; accepted for CLI compatibility
        break;
      case '--version':
      case '-V':
        args.version = true;
        break;
      case '--help':
      case '-h':
        args.help = true;
        break;
      case 'cli':
        args.cli = argv[++i] ?? null;
        if (!args.cli) fail('missing subcommand after `cli`');
        break;
      default:
        fail(`unknown argument: ${arg}`);
    }
  }
  return args;
}

function fail(message) {
  process.stderr.write(`prisma-schema-engine: ${message}\n`);
  process.exit(2);
}

// ---------------------------------------------------------------------------------------------------------------
// Logging in the shape of the native engine's tracing output (JSON lines on stderr). The CLI collects `fields.message`
// of every line for error reports and reads `fields.error_code` of ERROR lines from the one-shot `cli` commands.

function log(level, fields) {
  process.stderr.write(
    JSON.stringify({ timestamp: new Date().toISOString(), level, fields, target: 'schema_engine::logger' }) + '\n',
  );
}

// ---------------------------------------------------------------------------------------------------------------
// Connections

function connectionUrl(datasource) {
  const url = datasource.url ?? process.env.DATABASE_URL;
  if (!url) throw userError('P1012', 'No datasource URL: set `datasource.url` in prisma.config.ts or DATABASE_URL.');
  return url;
}

/** pg pool settings for a Prisma-style URL: `?schema=` becomes the search_path (and the adapter's schema). */
function poolSettings(url) {
  const parsed = new URL(url);
  const schema = parsed.searchParams.get('schema') ?? undefined;
  parsed.searchParams.delete('schema');
  const config = { connectionString: parsed.toString(), max: 4 };
  if (schema) config.options = `-c search_path="${schema.replaceAll('"', '""')}"`;
  return { config, schema };
}

function withDatabase(url, database) {
  const parsed = new URL(url);
  parsed.pathname = `/${encodeURIComponent(database)}`;
  return parsed.toString();
}

function databaseName(url) {
  return decodeURIComponent(new URL(url).pathname.replace(/^\//, '')) || 'postgres';
}

function quoteIdent(name) {
  return `"${name.replaceAll('"', '""')}"`;
}

// Postgres types the schema engine reads from pg_catalog that @prisma/adapter-pg 7.10 refuses ("Unsupported column
// type char", …). pg hands all of them over as plain strings, so they are declared to the engine as TEXT.
const TEXT_OID = 25;
const CATALOG_TEXT_OIDS = new Set([
  18, // "char" (relkind, contype, …)
  22, // int2vector
  24, // regproc
  28, // xid
  30, // oidvector
  194, // pg_node_tree
  1033, // aclitem
  2202, // regprocedure
  2203, // regoper
  2204, // regoperator
  2205, // regclass
  2206, // regtype
  3734, // regconfig
  3769, // regdictionary
  4089, // regnamespace
  4096, // regrole
]);

/** Adjusts a PrismaPgAdapter for schema-engine use. */
function patchAdapter(adapter, label) {
  const performIO = adapter.performIO.bind(adapter);
  adapter.performIO = async (query) => {
    const result = await performIO(query);
    if (process.env.PRISMA_SCHEMA_ENGINE_DEBUG) {
      log('DEBUG', {
        message: `[${label}] ${query.sql.trim().split('\n').slice(0, 3).join(' ')} -> ${result.rowCount ?? result.rows?.length} rows ${JSON.stringify(result.rows).slice(0, 300)}`,
      });
    }
    for (const field of result.fields ?? []) {
      if (CATALOG_TEXT_OIDS.has(field.dataTypeID)) field.dataTypeID = TEXT_OID;
    }
    return result;
  };
  // adapter-pg splits scripts on every `;` (breaking on semicolons in comments, strings and function bodies).
  // The native engine sends a migration script as one simple-protocol query; do the same.
  adapter.executeScript = async (script) => {
    try {
      await adapter.client.query(script);
    } catch (error) {
      adapter.onError(error);
    }
  };
  return adapter;
}

async function openAdapter(url) {
  const { config, schema } = poolSettings(url);
  const adapter = await new PrismaPg(config, schema ? { schema } : undefined).connect();
  return patchAdapter(adapter, databaseName(url));
}

/** Runs `fn` with a single pg client on `url`, closing it afterwards. */
async function withClient(url, fn) {
  const client = new pg.Client(poolSettings(url).config);
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end().catch(() => {});
  }
}

/**
 * Driver adapter factory for the wasm engine. Unlike PrismaPg's own connectToShadowDb (7.10.1), the shadow database
 * gets its own connection settings (PrismaPg spreads `database` next to a connectionString, which pg ignores, so the
 * "shadow" pool reached the main database), and its connections are closed before it is dropped.
 */
class SchemaEnginePgFactory {
  provider = 'postgres';
  adapterName = '@prisma/adapter-pg';

  constructor(url, shadowDatabaseUrl) {
    this.url = url;
    this.shadowDatabaseUrl = shadowDatabaseUrl;
  }

  connect() {
    return openAdapter(this.url);
  }

  async connectToShadowDb() {
    if (this.shadowDatabaseUrl) return this.connectToConfiguredShadowDb(this.shadowDatabaseUrl);

    const database = `prisma_migrate_shadow_db_${randomUUID()}`;
    await withClient(this.url, (client) => client.query(`CREATE DATABASE ${quoteIdent(database)}`));
    const adapter = await openAdapter(withDatabase(this.url, database));
    const closePool = adapter.release;
    adapter.release = async () => {
      await closePool?.();
      await withClient(this.url, async (client) => {
        try {
          await client.query(`DROP DATABASE IF EXISTS ${quoteIdent(database)} WITH (FORCE)`);
        } catch {
          await client.query(`DROP DATABASE IF EXISTS ${quoteIdent(database)}`); // PostgreSQL < 13
        }
      });
    };
    return adapter;
  }

  /**
   * A configured shadow database is emptied first, as the native engine does — except for objects owned by
   * extensions: the schema is kept (not dropped and recreated), so extensions a non-superuser role cannot create
   * (pgvector installed by an administrator or via template1) survive.
   */
  async connectToConfiguredShadowDb(shadowUrl) {
    const main = new URL(this.url);
    const shadow = new URL(shadowUrl);
    if (
      main.hostname === shadow.hostname &&
      (main.port || '5432') === (shadow.port || '5432') &&
      databaseName(this.url) === databaseName(shadowUrl)
    ) {
      throw userError('P3014', 'The shadow database you configured appears to be the same as the main database.');
    }
    const schema = poolSettings(shadowUrl).schema ?? 'public';
    await withClient(shadowUrl, (client) => client.query(emptySchemaSql(schema)));
    return openAdapter(shadowUrl);
  }
}

/** SQL that drops every object in `schema` that no extension owns (and creates the schema if it is missing). */
function emptySchemaSql(schema) {
  const literal = `'${schema.replaceAll("'", "''")}'`;
  return `
CREATE SCHEMA IF NOT EXISTS ${quoteIdent(schema)};
DO $$
DECLARE r record;
BEGIN
  FOR r IN
    SELECT c.oid::regclass::text AS name, c.relkind FROM pg_class c
    WHERE c.relnamespace = ${literal}::regnamespace AND c.relkind IN ('r', 'p', 'v', 'm', 'f', 'S')
      AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.deptype = 'e')
  LOOP
    EXECUTE format('DROP %s IF EXISTS %s CASCADE',
      CASE r.relkind WHEN 'v' THEN 'VIEW' WHEN 'm' THEN 'MATERIALIZED VIEW' WHEN 'f' THEN 'FOREIGN TABLE'
                     WHEN 'S' THEN 'SEQUENCE' ELSE 'TABLE' END, r.name);
  END LOOP;
  FOR r IN
    SELECT p.oid::regprocedure::text AS name, p.prokind FROM pg_proc p
    WHERE p.pronamespace = ${literal}::regnamespace
      AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_proc'::regclass AND d.objid = p.oid AND d.deptype = 'e')
  LOOP
    EXECUTE format('DROP %s IF EXISTS %s CASCADE', CASE r.prokind WHEN 'p' THEN 'PROCEDURE' WHEN 'a' THEN 'AGGREGATE' ELSE 'FUNCTION' END, r.name);
  END LOOP;
  FOR r IN
    SELECT t.oid::regtype::text AS name FROM pg_type t
    WHERE t.typnamespace = ${literal}::regnamespace AND t.typtype IN ('e', 'd', 'c', 'r') AND (t.typrelid = 0 OR t.typtype <> 'c'
      OR EXISTS (SELECT 1 FROM pg_class c WHERE c.oid = t.typrelid AND c.relkind = 'c'))
      AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_type'::regclass AND d.objid = t.oid AND d.deptype = 'e')
  LOOP
    EXECUTE format('DROP TYPE IF EXISTS %s CASCADE', r.name);
  END LOOP;
END $$;`;
}

// ---------------------------------------------------------------------------------------------------------------
// Errors

function userError(code, message) {
  return Object.assign(new Error(message), { code });
}

const panicRegistry = {
  message: '',
  get() {
    return this.message;
  },
  set_message(message) {
    this.message = `RuntimeError: ${message}`;
  },
};
globalThis.PRISMA_WASM_PANIC_REGISTRY = panicRegistry;

/** Turns a wasm engine / driver error into the native engine's JSON-RPC error object. */
function rpcError(error, errorRegistry) {
  const base = { code: 4466, message: 'An error happened. Check the data field for details.' };
  if (error instanceof WebAssembly.RuntimeError || panicRegistry.message) {
    const message = panicRegistry.message || String(error?.message ?? error);
    panicRegistry.message = '';
    return { ...base, data: { is_panic: true, message, error: { message }, backtrace: error?.stack ?? null } };
  }
  // Errors thrown inside the driver adapter come back as { kind: 'GenericJs', id }: recover the original.
  const original = findRegisteredError(error, errorRegistry);
  if (original) error = original;
  const code = typeof error?.code === 'string' && /^P\d{4}$/.test(error.code) ? error.code : undefined;
  const message = describe(error);
  return { ...base, data: { is_panic: false, message, meta: error?.meta ?? null, error_code: code ?? null } };
}

function findRegisteredError(error, errorRegistry) {
  const id = error?.cause?.id ?? error?.id;
  if (typeof id !== 'number') return undefined;
  return errorRegistry.consumeError(id)?.error;
}

function describe(error) {
  if (!(error instanceof Error)) return typeof error === 'string' ? error : JSON.stringify(error);
  let message = error.message;
  const cause = error.cause;
  if (cause && typeof cause === 'object' && !message.includes(String(cause.message ?? ''))) {
    message += `\n${cause.message ?? JSON.stringify(cause)}`;
  }
  return message;
}

// ---------------------------------------------------------------------------------------------------------------
// Wasm engine

async function loadWasm() {
  const wasmUrl = new URL('./schema_engine_bg.wasm', import.meta.resolve('@prisma/schema-engine-wasm'));
  const { instance } = await WebAssembly.instantiate(await readFile(wasmUrl), { './schema_engine_bg.js': wasmGlue });
  wasmGlue.__wbg_set_wasm(instance.exports);
  instance.exports.__wbindgen_start();
  return wasmGlue;
}

async function startEngine(args) {
  const { SchemaEngine } = await loadWasm();
  const factory = bindMigrationAwareSqlAdapterFactory(
    new SchemaEnginePgFactory(
      connectionUrl(args.datasource),
      args.datasource.shadowDatabaseUrl ?? process.env.SHADOW_DATABASE_URL ?? undefined,
    ),
  );
  const datamodels = await Promise.all(args.datamodels.map(async (path) => [path, await readFile(path, 'utf8')]));
  const debug = (message) => {
    if (process.env.PRISMA_SCHEMA_ENGINE_DEBUG) log('DEBUG', { message: String(message) });
  };
  const engine = await SchemaEngine.new({ datamodels: datamodels.length ? datamodels : undefined }, debug, factory);
  return { engine, errorRegistry: factory.errorRegistry };
}

// ---------------------------------------------------------------------------------------------------------------
// JSON-RPC server

function send(message) {
  process.stdout.write(JSON.stringify(message) + '\n');
}

let nextServerRequestId = 1_000_000;

async function serve(args) {
  let started;
  const engineReady = () => (started ??= startEngine(args));

  const methods = {
    // RPC names the CLI uses that the wasm engine spells differently or does not have.
    getDatabaseVersion: async (params) => (await engineReady()).engine.version(params ?? null),
    createDatabase: async (params) => {
      const url = params?.datasource?.url ?? connectionUrl(args.datasource);
      const name = databaseName(url);
      await withClient(withDatabase(url, 'postgres'), (client) => client.query(`CREATE DATABASE ${quoteIdent(name)}`));
      return { databaseName: name };
    },
    getDatabaseDescription: async () => {
      throw new Error('getDatabaseDescription is not supported by the wasm schema engine');
    },
    diff: async (params) => {
      const { engine } = await engineReady();
      const { stdout, ...rest } = await engine.diff(params);
      // The native engine prints through a `print` request to the CLI, which writes it to its stdout.
      if (stdout)
        send({
          jsonrpc: '2.0',
          id: nextServerRequestId++,
          method: 'print',
          params: { content: stdout.replace(/\n$/, '') },
        });
      return rest;
    },
  };

  const handle = async (request) => {
    const { id, method, params } = request;
    if (method === undefined) return; // a response to one of our `print` requests
    try {
      let result;
      if (methods[method]) {
        result = await methods[method](params);
      } else {
        const { engine } = await engineReady();
        if (typeof engine[method] !== 'function' || method === 'free' || method === 'constructor') {
          send({ jsonrpc: '2.0', id, error: { code: -32601, message: `Method not found: ${method}` } });
          return;
        }
        // Call as a method: detaching it from the engine loses the wasm pointer binding.
        result = await engine[method](params);
      }
      send({ jsonrpc: '2.0', id, result: result ?? null });
    } catch (error) {
      const registry = started ? (await started.catch(() => null))?.errorRegistry : undefined;
      const rpc = rpcError(error, registry ?? { consumeError: () => undefined });
      if (rpc.data.is_panic || !rpc.data.error_code) log('ERROR', { message: rpc.data.message });
      send({ jsonrpc: '2.0', id, error: rpc });
    }
  };

  const pending = new Set();
  const lines = createInterface({ input: process.stdin, crlfDelay: Infinity });
  lines.on('line', (line) => {
    if (!line.trim()) return;
    let request;
    try {
      request = JSON.parse(line);
    } catch {
      send({ jsonrpc: '2.0', id: null, error: { code: -32700, message: 'Parse error' } });
      return;
    }
    const task = handle(request).finally(() => pending.delete(task));
    pending.add(task);
  });
  lines.on('close', async () => {
    await Promise.allSettled(pending);
    if (started) {
      const ready = await started.catch(() => null);
      ready?.engine.free();
    }
    process.exit(0);
  });
}

// ---------------------------------------------------------------------------------------------------------------
// One-shot `cli` commands (used by the CLI before migrate commands to check / create the database)

function pgErrorToPrisma(error, url) {
  const parsed = new URL(url);
  const where = `${parsed.hostname}:${parsed.port || '5432'}`;
  switch (error?.code) {
    case '3D000':
      return {
        error_code: 'P1003',
        message: `Database \`${databaseName(url)}\` does not exist on the database server at \`${where}\`.`,
      };
    case '28P01':
    case '28000':
      return {
        error_code: 'P1000',
        message: `Authentication failed against database server at \`${where}\`, the provided database credentials for \`${decodeURIComponent(parsed.username)}\` are not valid.`,
      };
    case 'ECONNREFUSED':
    case 'ENOTFOUND':
    case 'EHOSTUNREACH':
    case 'ETIMEDOUT':
      return {
        error_code: 'P1001',
        message: `Can't reach database server at \`${where}\`\n\nPlease make sure your database server is running at \`${where}\`.`,
      };
    default:
      return { error_code: null, message: String(error?.message ?? error) };
  }
}

async function runCli(args) {
  const url = connectionUrl(args.datasource);
  const name = databaseName(url);
  try {
    switch (args.cli) {
      case 'can-connect-to-database':
        await withClient(url, (client) => client.query('SELECT 1'));
        process.stdout.write('Connection successful\n');
        break;
      case 'create-database':
        await withClient(withDatabase(url, 'postgres'), (client) =>
          client.query(`CREATE DATABASE ${quoteIdent(name)}`),
        );
        process.stdout.write(`Database '${name}' was successfully created.\n`);
        break;
      case 'drop-database':
        await withClient(withDatabase(url, 'postgres'), (client) => client.query(`DROP DATABASE ${quoteIdent(name)}`));
        process.stdout.write('The database was successfully dropped.\n');
        break;
      default:
        fail(`unknown cli subcommand: ${args.cli}`);
    }
    process.exit(0);
  } catch (error) {
    const { error_code, message } = pgErrorToPrisma(error, url);
    // The CLI skips the first stderr line and parses the rest as JSON log lines.
    log('INFO', { message: `Running ${args.cli}` });
    log('ERROR', error_code ? { error_code, message } : { message });
    process.exit(1);
  }
}

// ---------------------------------------------------------------------------------------------------------------

const args = parseArgs(process.argv.slice(2));
if (args.help) {
  process.stdout.write(
    'prisma-schema-engine: Prisma schema engine (wasm) over @prisma/adapter-pg. See docs/migrations.md.\n',
  );
} else if (args.version) {
  const { version } = await loadWasm();
  process.stdout.write(`schema-engine-cli ${version()}\n`);
} else if (args.cli) {
  await runCli(args);
} else {
  await serve(args);
}
