// Plain-JS entry of the inference worker threads. Workers do not reliably inherit a TypeScript loader (under
// vitest the parent has none; under `tsx` it does), so this file loads the TypeScript worker through tsx's
// namespaced `tsImport`, which works in either case without registering a global hook twice.
import { workerData } from 'node:worker_threads';

const entry = workerData?.entry;
if (typeof entry !== 'string')
  throw new Error('worker-bootstrap: workerData.entry (file URL of the worker module) is required');
if (entry.endsWith('.js') || entry.endsWith('.mjs')) {
  await import(entry); // compiled build
} else {
  const { tsImport } = await import('tsx/esm/api');
  await tsImport(entry, import.meta.url);
}
