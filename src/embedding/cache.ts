/**
 * LRU cache of text-query embeddings, keyed by model id + normalised text (Unicode NFC, trimmed, whitespace
 * collapsed, lower-cased: the CLIP tokenizer lower-cases and splits on whitespace, so these all embed the same).
 */

/** The cache key part for a text: equal for texts the CLIP tokenizer treats identically. */
export function normaliseQueryText(text: string): string {
  return text.normalize('NFC').trim().replace(/\s+/g, ' ').toLowerCase();
}

export class LruCache<V> {
  private readonly map = new Map<string, V>();
  hits = 0;
  misses = 0;

  constructor(readonly capacity: number) {}

  get size(): number {
    return this.map.size;
  }

  get(key: string): V | undefined {
    const v = this.map.get(key);
    if (v === undefined) {
      this.misses++;
      return undefined;
    }
    this.hits++;
    // refresh recency
    this.map.delete(key);
    this.map.set(key, v);
    return v;
  }

  set(key: string, value: V): void {
    if (this.capacity <= 0) return;
    this.map.delete(key);
    this.map.set(key, value);
    while (this.map.size > this.capacity) {
      const oldest = this.map.keys().next();
      if (oldest.done) break;
      this.map.delete(oldest.value);
    }
  }

  clear(): void {
    this.map.clear();
  }
}

/** Text embedding cache: copies out on read so callers can't corrupt cached vectors. */
export class TextEmbeddingCache {
  private readonly lru: LruCache<Float32Array>;

  constructor(
    capacity: number,
    private readonly modelId: string,
  ) {
    this.lru = new LruCache(capacity);
  }

  private key(text: string): string {
    return `${this.modelId}\u0000${normaliseQueryText(text)}`;
  }
  get(text: string): Float32Array | undefined {
    const v = this.lru.get(this.key(text));
    return v ? v.slice() : undefined;
  }
  set(text: string, vec: Float32Array): void {
    this.lru.set(this.key(text), vec.slice());
  }
  get stats(): { size: number; hits: number; misses: number; capacity: number } {
    return { size: this.lru.size, hits: this.lru.hits, misses: this.lru.misses, capacity: this.lru.capacity };
  }
}

/**
 * A text model's query embeddings through its cache: a hit is returned at once, a text already being embedded
 * joins that run, anything else runs `compute` once and is cached. Callers get copies.
 */
export class CachedTextEmbeddings {
  private readonly cache: TextEmbeddingCache;
  private readonly inflight = new Map<string, Promise<Float32Array>>();

  constructor(
    capacity: number,
    modelId: string,
    private readonly compute: (text: string) => Promise<Float32Array>,
    private readonly onLookup: (hit: boolean) => void = () => {},
  ) {
    this.cache = new TextEmbeddingCache(capacity, modelId);
  }

  async embed(text: string): Promise<Float32Array> {
    const cached = this.cache.get(text);
    this.onLookup(cached !== undefined);
    if (cached) return cached;
    const key = normaliseQueryText(text);
    const running = this.inflight.get(key);
    if (running) return (await running).slice();
    const p = this.compute(text).then((v) => {
      this.cache.set(text, v);
      return v;
    });
    this.inflight.set(key, p);
    try {
      return (await p).slice();
    } finally {
      this.inflight.delete(key);
    }
  }

  get stats(): { size: number; hits: number; misses: number; capacity: number } {
    return this.cache.stats;
  }
}
