-- Search analytics (src/analytics): one row per storefront search, one per click on a result; nothing personal.
-- CreateTable
CREATE TABLE "search_event" (
    "id" UUID NOT NULL,
    "at" TIMESTAMPTZ(6) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "query" TEXT,
    "mode" TEXT NOT NULL,
    "kinds" TEXT[],
    "filters" JSONB NOT NULL DEFAULT '{}',
    "result_count" INTEGER NOT NULL,
    "latency_ms" DOUBLE PRECISION NOT NULL,

    CONSTRAINT "search_event_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "search_click" (
    "id" BIGSERIAL NOT NULL,
    "search_id" UUID NOT NULL,
    "product_id" UUID NOT NULL,
    "position" INTEGER NOT NULL,
    "at" TIMESTAMPTZ(6) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "search_click_pkey" PRIMARY KEY ("id")
);

-- CreateIndex
CREATE INDEX "search_event_at_idx" ON "search_event"("at");

-- CreateIndex
CREATE INDEX "search_click_search_id_idx" ON "search_click"("search_id");

-- AddForeignKey
ALTER TABLE "search_click" ADD CONSTRAINT "search_click_search_id_fkey" FOREIGN KEY ("search_id") REFERENCES "search_event"("id") ON DELETE CASCADE ON UPDATE CASCADE;
