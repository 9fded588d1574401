-- CreateTable
CREATE TABLE "outbox_consumer" (
    "name" VARCHAR(255) NOT NULL,
    "registered_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "watermark_seq" BIGINT NOT NULL DEFAULT 0,
    "reconciled_at" TIMESTAMPTZ(3),

    CONSTRAINT "outbox_consumer_pkey" PRIMARY KEY ("name")
);

-- CreateTable
CREATE TABLE "outbox_reconciler_run" (
    "id" BIGSERIAL NOT NULL,
    "started_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "finished_at" TIMESTAMPTZ(3),
    "status" VARCHAR(20) NOT NULL,
    "scanned" INTEGER NOT NULL DEFAULT 0,
    "rescheduled" INTEGER NOT NULL DEFAULT 0,
    "report" JSONB NOT NULL DEFAULT '{}',
    "error" TEXT,

    CONSTRAINT "outbox_reconciler_run_pkey" PRIMARY KEY ("id")
);

-- CreateIndex
CREATE INDEX "outbox_reconciler_run_started_at_idx" ON "outbox_reconciler_run"("started_at");
