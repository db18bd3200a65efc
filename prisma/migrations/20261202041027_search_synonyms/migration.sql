-- Synonym groups managed by admins (src/search/synonyms.ts): query expansion for KEYWORD / HYBRID search.
-- CreateTable
CREATE TABLE "search_synonym" (
    "id" UUID NOT NULL DEFAULT gen_random_uuid(),
    "terms" TEXT[],
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updated_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "search_synonym_pkey" PRIMARY KEY ("id")
);
