/**
 * Markdown tables of a search benchmark result (bench/search.ts prints them to stderr at the end of a run;
 * `npx tsx bench/search-report.ts bench/results/search-….json` renders a saved one) — what docs/performance.md
 * quotes.
 */
import fs from 'node:fs';
import { fileURLToPath } from 'node:url';

type Row = Record<string, unknown>;
interface Lat {
  p50: number;
  p95: number;
  p99: number;
  qps?: number;
}

const lat = (l: Lat | undefined) => (l ? `${l.p50} / ${l.p95} / ${l.p99}` : '—');
const n = (x: unknown) => (typeof x === 'number' ? x.toLocaleString('en-US') : String(x ?? '—'));

function table(head: string[], rows: unknown[][]): string {
  const line = (cells: unknown[]) => `| ${cells.map((c) => String(c ?? '—')).join(' | ')} |`;
  return [line(head), line(head.map(() => '---')), ...rows.map(line)].join('\n');
}

function serviceTable(rows: Row[]): string {
  const conc = Object.keys(rows[0] ?? {}).find((k) => k.startsWith('concurrent')) ?? 'concurrent8';
  return table(
    [
      'Filter (products matching)',
      'Strategy',
      'recall@10',
      'rows',
      'p50 / p95 / p99 ms (1 client)',
      `p50 / p95 / p99 ms (${conc.replace('concurrent', '')} clients)`,
      'QPS',
    ],
    rows.map((r) => [
      `${String(r.selectivity)} (${n(r.matchingProducts)})`,
      `${String(r.strategy)}${r.efSearch ? ` · ef ${String(r.efSearch)}` : ''}${r.probes ? ` · probes ${String(r.probes)}` : ''}`,
      r.recallAt10,
      r.rowsReturned,
      lat(r.single as Lat),
      lat(r[conc] as Lat),
      (r[conc] as Lat | undefined)?.qps,
    ]),
  );
}

/** The HTTP section: what a storefront sees beside the service and the search statement, per filter. */
function httpTables(http: Row): string[] {
  const rows = (http.rows as Row[] | undefined) ?? [];
  const pagesKey = Object.keys(rows[0] ?? {}).find((k) => k.startsWith('recallPages')) ?? 'recallPages1to3';
  const laterKey = Object.keys(rows[0] ?? {}).find((k) => k.startsWith('httpPages')) ?? 'httpPages2to3';
  const out = [
    table(
      [
        'Filter (products matching)',
        'strategy',
        'recall@10',
        `recall ${pagesKey.replace('recallPages', 'pages ').replace('to', '–')}`,
        'SQL p50 / p95 / p99 ms',
        'service p50 / p95 / p99 ms',
        'HTTP p50 / p95 / p99 ms',
        'overhead p50 ms',
        `HTTP ${laterKey.replace('httpPages', 'pages ').replace('to', '–')} p50 / p95 / p99 ms`,
      ],
      rows.map((r) => [
        `${String(r.filter)} (${n(r.matchingProducts)})`,
        r.strategy,
        r.recallAt10,
        r[pagesKey],
        lat(r.sql as Lat),
        lat(r.service as Lat),
        lat(r.http as Lat),
        r.overheadP50,
        lat(r[laterKey] as Lat),
      ]),
    ),
  ];
  const text = http.cachedText as Row | undefined;
  if (text)
    out.push(
      '',
      table(
        ['Query', 'recall@10', 'SQL', 'service', 'HTTP', 'overhead p50 ms'],
        [
          [
            text.query,
            text.recallAt10,
            lat(text.sql as Lat),
            lat(text.service as Lat),
            lat(text.http as Lat),
            text.overheadP50,
          ],
        ],
      ),
    );
  const tp = (http.throughput as Row[] | undefined) ?? [];
  if (tp.length)
    out.push(
      '',
      table(
        ['HTTP clients', 'p50 / p95 / p99 ms', 'requests/s'],
        tp.map((r) => [r.clients, lat(r as unknown as Lat), r.qps]),
      ),
      '',
      `${String(tp[tp.length - 1]!.clients)} clients: ${String(http.concurrencyGain)}× the single-client throughput.`,
    );
  return out;
}

export function renderReport(result: Row): string {
  const out: string[] = [];
  const cat = result.catalog as Row | undefined;
  const load = result.load as Row | undefined;
  out.push(
    `**${n(cat?.products)} products / ${n(cat?.images)} images, ${n(cat?.queries)} queries**, \`${String(result.command)}\`` +
      (load?.seconds != null ? ` — load ${String(load.seconds)} s (${String(load.method)})` : '') +
      (result.totalSeconds != null ? `, total ${String(result.totalSeconds)} s` : '') +
      '.',
  );
  if (Array.isArray(result.service)) out.push('', serviceTable(result.service as Row[]));
  if (result.http) out.push('', ...httpTables(result.http as Row));
  const ivf = result.serviceIvfflat as { index: Row; rows: Row[] } | undefined;
  if (ivf)
    out.push(
      '',
      `The service over an IVFFlat index (lists ${String(ivf.index.lists)}, built in ${String(ivf.index.buildSeconds)} s, ${String(ivf.index.sizeMB)} MB):`,
      '',
      serviceTable(ivf.rows),
    );
  if (Array.isArray(result.strategiesForced))
    out.push(
      '',
      'Both strategies forced (1 client):',
      '',
      table(
        [
          'Filter',
          'embeddings passing',
          'forced',
          'recall@10',
          'p50 / p95 / p99 ms',
          'recall pages 1–3',
          'pages 2–3 p50 / p95 / p99 ms',
        ],
        (result.strategiesForced as Row[]).map((r) => [
          r.filter ?? r.selectivity, // results before 2026-12-02 name the tag selectivity only
          n(r.matchingEmbeddings),
          [
            r.efSearch === undefined ? r.forced : `${String(r.forced)} (ef_search ${String(r.efSearch)})`,
            r.fallbacks ? `${String(r.fallbacks)} fell back` : '',
          ]
            .filter(Boolean)
            .join(', '),
          r.recallAt10,
          lat(r as unknown as Lat),
          r.recallPages1to3 ?? '—', // earlier results have page 1 only
          r.pages2to3 ? lat(r.pages2to3 as Lat) : '—',
        ]),
      ),
    );
  if (Array.isArray(result.serviceEfSweep))
    out.push(
      '',
      'The service unfiltered by `GLIMPSE_HNSW_EF_SEARCH` (1 client):',
      '',
      table(
        ['ef_search', 'recall@10', 'p50 / p95 / p99 ms'],
        (result.serviceEfSweep as Row[]).map((r) => [r.efSearch, r.recallAt10, lat(r as unknown as Lat)]),
      ),
    );
  if (Array.isArray(result.textAndFacets))
    out.push(
      '',
      'KEYWORD, HYBRID and facets (1 client; query embedding not included):',
      '',
      table(
        ['Mode', 'text / filter', 'facets', 'strategy', 'rows', 'p50 / p95 / p99 ms'],
        (result.textAndFacets as Row[]).map((r) => [
          r.mode,
          r.text != null ? `"${String(r.text)}" (${String(r.matching)})` : `filter ${String(r.selectivity)}`,
          r.facets ? 'all four' : '',
          r.strategy,
          r.rowsReturned,
          lat(r as unknown as Lat),
        ]),
      ),
    );
  if (Array.isArray(result.withoutGlimpseStrategy))
    out.push(
      '',
      'Without Glimpse’s strategy (plain `ORDER BY … LIMIT 10` joined to the filter, ef_search 40):',
      '',
      table(
        ['Filter', 'query', 'recall@10', 'rows returned', 'p50 / p95 / p99 ms'],
        (result.withoutGlimpseStrategy as Row[]).map((r) => [
          r.selectivity,
          String(r.query).replace(/^plain ORDER BY … LIMIT 10, ef_search 40, /, ''),
          r.recallAt10,
          r.rowsReturned,
          lat(r as unknown as Lat),
        ]),
      ),
    );
  const options = [...((result.indexOptions as Row[] | undefined) ?? []), ...((result.hnswlib as Row[]) ?? [])];
  if (options.length)
    out.push(
      '',
      'Index options, raw image-level top-10 (1 client; hnswlib filtered rows: rows returned instead of recall):',
      '',
      table(
        ['Option', 'setting', 'recall@10', 'p50 / p95 / p99 ms'],
        options.map((r) => [
          `${String(r.option)}${r.selectivity ? ` ${String(r.selectivity)}` : ''}`,
          r.ef != null
            ? `ef ${String(r.ef)}`
            : r.probes != null
              ? `probes ${String(r.probes)}`
              : `${String(r.candidates)} candidates`,
          r.recallAt10 ?? `${String(r.rowsReturned)} rows`,
          lat(r as unknown as Lat),
        ]),
      ),
    );
  const indexes = (result.indexes as Row[] | undefined) ?? [];
  if (indexes.length)
    out.push(
      '',
      table(
        ['Index', 'build s', 'size MB'],
        indexes.map((r) => [r.name, r.seconds, r.sizeMB]),
      ),
      '',
      `Heap + TOAST of \`embedding_768\`: ${String(result.tableMB)} MB.`,
    );
  return out.join('\n') + '\n';
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const file = process.argv[2];
  if (!file) {
    console.error('usage: npx tsx bench/search-report.ts bench/results/search-….json');
    process.exit(2);
  }
  process.stdout.write(renderReport(JSON.parse(fs.readFileSync(file, 'utf8')) as Row));
}
