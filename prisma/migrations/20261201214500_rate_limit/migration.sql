-- Rate-limit windows shared by every API replica (src/http/rate-limit.ts; the column layout is
-- rate-limiter-flexible's PostgreSQL store). UNLOGGED: no WAL per request, not replicated, reset by a crash.
CREATE UNLOGGED TABLE "rate_limit" (
    "key" VARCHAR(255) NOT NULL,
    "points" INTEGER NOT NULL DEFAULT 0,
    "expire" BIGINT,

    CONSTRAINT "rate_limit_pkey" PRIMARY KEY ("key")
);
