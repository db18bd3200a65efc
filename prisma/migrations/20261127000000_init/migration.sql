-- Glimpse initial schema. Hand-written parts (pgvector, HNSW, generated full-text column, partial unique
-- index) are marked; the rest is what `prisma migrate dev` generates from prisma/schema.prisma.

-- CreateExtension
CREATE EXTENSION IF NOT EXISTS "vector";

-- CreateTable
CREATE TABLE "embedding_model" (
    "id" TEXT NOT NULL,
    "name" TEXT NOT NULL,
    "dimension" INTEGER NOT NULL,
    "active" BOOLEAN NOT NULL DEFAULT false,
    "is_test" BOOLEAN NOT NULL DEFAULT false,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "embedding_model_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "product" (
    "id" UUID NOT NULL DEFAULT gen_random_uuid(),
    "sku" TEXT NOT NULL,
    "title" TEXT NOT NULL,
    "description" TEXT,
    "brand" TEXT,
    "category" TEXT,
    "price" DECIMAL(12,2),
    "currency" CHAR(3),
    "in_stock" BOOLEAN NOT NULL DEFAULT true,
    "tags" TEXT[] DEFAULT ARRAY[]::TEXT[],
    "attributes" JSONB NOT NULL DEFAULT '{}',
    "language" regconfig NOT NULL DEFAULT 'english'::regconfig,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updated_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "product_pkey" PRIMARY KEY ("id")
);

-- Hand-written: the full-text column is generated from the row's own text search configuration.
ALTER TABLE "product" ADD COLUMN "search_tsv" tsvector GENERATED ALWAYS AS (
    setweight(to_tsvector("language", coalesce("title", '')), 'A') ||
    setweight(to_tsvector("language", coalesce("brand", '')), 'B') ||
    setweight(to_tsvector("language", coalesce("description", '')), 'C')
) STORED;

-- CreateTable
CREATE TABLE "product_image" (
    "id" UUID NOT NULL DEFAULT gen_random_uuid(),
    "product_id" UUID NOT NULL,
    "sha256" CHAR(64) NOT NULL,
    "source" TEXT NOT NULL,
    "source_url" TEXT,
    "content_type" TEXT NOT NULL,
    "byte_size" INTEGER NOT NULL,
    "width" INTEGER NOT NULL,
    "height" INTEGER NOT NULL,
    "position" INTEGER NOT NULL,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "product_image_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "embedding_512" (
    "image_id" UUID NOT NULL,
    "model_id" TEXT NOT NULL,
    "product_id" UUID NOT NULL,
    "embedding" halfvec(512) NOT NULL,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "embedding_512_pkey" PRIMARY KEY ("image_id","model_id")
);

-- CreateTable
CREATE TABLE "embedding_768" (
    "image_id" UUID NOT NULL,
    "model_id" TEXT NOT NULL,
    "product_id" UUID NOT NULL,
    "embedding" halfvec(768) NOT NULL,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "embedding_768_pkey" PRIMARY KEY ("image_id","model_id")
);

-- CreateTable
CREATE TABLE "embedding_1024" (
    "image_id" UUID NOT NULL,
    "model_id" TEXT NOT NULL,
    "product_id" UUID NOT NULL,
    "embedding" halfvec(1024) NOT NULL,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "embedding_1024_pkey" PRIMARY KEY ("image_id","model_id")
);

-- CreateTable
CREATE TABLE "api_key" (
    "id" UUID NOT NULL DEFAULT gen_random_uuid(),
    "name" TEXT,
    "role" TEXT NOT NULL,
    "prefix" TEXT NOT NULL,
    "key_hash" TEXT NOT NULL,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "last_used_at" TIMESTAMPTZ(3),
    "revoked_at" TIMESTAMPTZ(3),

    CONSTRAINT "api_key_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "job" (
    "id" UUID NOT NULL DEFAULT gen_random_uuid(),
    "kind" TEXT NOT NULL,
    "state" TEXT NOT NULL DEFAULT 'queued',
    "model_id" TEXT,
    "done" INTEGER NOT NULL DEFAULT 0,
    "total" INTEGER NOT NULL DEFAULT 0,
    "failed" INTEGER NOT NULL DEFAULT 0,
    "cursor" TEXT,
    "params" JSONB NOT NULL DEFAULT '{}',
    "error" TEXT,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updated_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "started_at" TIMESTAMPTZ(3),
    "finished_at" TIMESTAMPTZ(3),

    CONSTRAINT "job_pkey" PRIMARY KEY ("id")
);

-- CreateIndex
CREATE UNIQUE INDEX "product_sku_key" ON "product"("sku");
CREATE INDEX "product_brand_idx" ON "product"("brand");
CREATE INDEX "product_category_idx" ON "product"("category" text_pattern_ops);
CREATE INDEX "product_price_idx" ON "product"("price");
CREATE INDEX "product_in_stock_idx" ON "product"("in_stock");
CREATE INDEX "product_created_at_idx" ON "product"("created_at");
CREATE INDEX "product_tags_idx" ON "product" USING GIN ("tags");
CREATE INDEX "product_attributes_idx" ON "product" USING GIN ("attributes" jsonb_path_ops);
CREATE INDEX "product_search_tsv_idx" ON "product" USING GIN ("search_tsv");
CREATE INDEX "product_image_product_id_position_idx" ON "product_image"("product_id", "position");
CREATE INDEX "product_image_sha256_idx" ON "product_image"("sha256");
CREATE UNIQUE INDEX "product_image_product_id_sha256_key" ON "product_image"("product_id", "sha256");
CREATE INDEX "embedding_512_model_id_product_id_idx" ON "embedding_512"("model_id", "product_id");
CREATE INDEX "embedding_512_product_id_idx" ON "embedding_512"("product_id");
CREATE INDEX "embedding_768_model_id_product_id_idx" ON "embedding_768"("model_id", "product_id");
CREATE INDEX "embedding_768_product_id_idx" ON "embedding_768"("product_id");
CREATE INDEX "embedding_1024_model_id_product_id_idx" ON "embedding_1024"("model_id", "product_id");
CREATE INDEX "embedding_1024_product_id_idx" ON "embedding_1024"("product_id");
CREATE UNIQUE INDEX "api_key_key_hash_key" ON "api_key"("key_hash");
CREATE INDEX "job_kind_state_idx" ON "job"("kind", "state");

-- Hand-written: HNSW cosine indexes (pgvector 0.8). Parameters: docs/performance.md.
CREATE INDEX "embedding_512_hnsw_idx" ON "embedding_512" USING hnsw ("embedding" halfvec_cosine_ops) WITH (m = 16, ef_construction = 64);
CREATE INDEX "embedding_768_hnsw_idx" ON "embedding_768" USING hnsw ("embedding" halfvec_cosine_ops) WITH (m = 16, ef_construction = 64);
CREATE INDEX "embedding_1024_hnsw_idx" ON "embedding_1024" USING hnsw ("embedding" halfvec_cosine_ops) WITH (m = 16, ef_construction = 64);

-- Hand-written: at most one active model.
CREATE UNIQUE INDEX "embedding_model_one_active_idx" ON "embedding_model"("active") WHERE "active";

-- AddForeignKey
ALTER TABLE "product_image" ADD CONSTRAINT "product_image_product_id_fkey" FOREIGN KEY ("product_id") REFERENCES "product"("id") ON DELETE CASCADE ON UPDATE CASCADE;
ALTER TABLE "embedding_512" ADD CONSTRAINT "embedding_512_image_id_fkey" FOREIGN KEY ("image_id") REFERENCES "product_image"("id") ON DELETE CASCADE ON UPDATE CASCADE;
ALTER TABLE "embedding_512" ADD CONSTRAINT "embedding_512_model_id_fkey" FOREIGN KEY ("model_id") REFERENCES "embedding_model"("id") ON DELETE CASCADE ON UPDATE CASCADE;
ALTER TABLE "embedding_512" ADD CONSTRAINT "embedding_512_product_id_fkey" FOREIGN KEY ("product_id") REFERENCES "product"("id") ON DELETE CASCADE ON UPDATE CASCADE;
ALTER TABLE "embedding_768" ADD CONSTRAINT "embedding_768_image_id_fkey" FOREIGN KEY ("image_id") REFERENCES "product_image"("id") ON DELETE CASCADE ON UPDATE CASCADE;
ALTER TABLE "embedding_768" ADD CONSTRAINT "embedding_768_model_id_fkey" FOREIGN KEY ("model_id") REFERENCES "embedding_model"("id") ON DELETE CASCADE ON UPDATE CASCADE;
ALTER TABLE "embedding_768" ADD CONSTRAINT "embedding_768_product_id_fkey" FOREIGN KEY ("product_id") REFERENCES "product"("id") ON DELETE CASCADE ON UPDATE CASCADE;
ALTER TABLE "embedding_1024" ADD CONSTRAINT "embedding_1024_image_id_fkey" FOREIGN KEY ("image_id") REFERENCES "product_image"("id") ON DELETE CASCADE ON UPDATE CASCADE;
ALTER TABLE "embedding_1024" ADD CONSTRAINT "embedding_1024_model_id_fkey" FOREIGN KEY ("model_id") REFERENCES "embedding_model"("id") ON DELETE CASCADE ON UPDATE CASCADE;
ALTER TABLE "embedding_1024" ADD CONSTRAINT "embedding_1024_product_id_fkey" FOREIGN KEY ("product_id") REFERENCES "product"("id") ON DELETE CASCADE ON UPDATE CASCADE;
ALTER TABLE "job" ADD CONSTRAINT "job_model_id_fkey" FOREIGN KEY ("model_id") REFERENCES "embedding_model"("id") ON DELETE SET NULL ON UPDATE CASCADE;
