/**
 * The server process of bench:search's HTTP section: the real server (src/server.ts `startServer`, the real
 * schema, resolvers, Express/Apollo stack and configuration from the environment) on the benchmark's database,
 * in its own process as in production, so that the client's work and the server's are not on one event loop.
 *
 * The one stand-in is the embedding model: the benchmark's catalog holds vectors of its own model
 * (`bench-768`), so text queries `q<n>` are "embedded" as the benchmark's query vector n — what a text query
 * costs once the embedder's cache holds it, which is the case the issue asks to measure (bench:embed measures
 * embedding itself). Started by bench/search-http.ts with the query vectors in a file (GLIMPSE_BENCH_QUERIES:
 * float32, Q × 768); tells its parent the URL over IPC and exits cleanly (so --cpu-prof writes its profile)
 * when the parent sends 'stop'.
 */
import fs from 'node:fs';
import { loadConfig } from '../src/config.js';
import { startServer } from '../src/server.js';

const D = 768;
const MODEL = 'bench-768';
const queries = new Float32Array(fs.readFileSync(process.env.GLIMPSE_BENCH_QUERIES!).buffer.slice(0));

const embedder = {
  modelId: MODEL,
  dimension: D,
  embedText(text: string): Promise<Float32Array> {
    const q = /^q(\d+)$/.exec(text.trim());
    const n = q ? Number(q[1]) : -1;
    if (n < 0 || (n + 1) * D > queries.length) return Promise.reject(new Error(`unknown benchmark query ${text}`));
    return Promise.resolve(queries.slice(n * D, (n + 1) * D));
  },
  embedImage(): Promise<Float32Array> {
    return Promise.reject(new Error('the benchmark server embeds no images'));
  },
};

const models = {
  status: () => ({ ready: true, modelId: MODEL, device: 'none (benchmark query vectors)' }),
  get: () => embedder,
};

const server = await startServer(loadConfig(process.env, { port: 0, host: '127.0.0.1' }), { models });
process.send?.({ url: server.url });
process.on('message', (m) => {
  if (m === 'stop') void server.close().then(() => process.exit(0));
});
