-- The operators' audit log (docs/console.md): what the console and the CLI did to the
-- pipeline (dead-letter replays and purges, retried failed rows), by whom and when.
-- CreateTable
CREATE TABLE "outbox_audit_log" (
    "id" BIGSERIAL NOT NULL,
    "at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "actor" VARCHAR(255) NOT NULL,
    "source" VARCHAR(255) NOT NULL,
    "action" VARCHAR(50) NOT NULL,
    "target" VARCHAR(255) NOT NULL,
    "details" JSONB NOT NULL DEFAULT '{}',

    CONSTRAINT "outbox_audit_log_pkey" PRIMARY KEY ("id")
);

-- CreateIndex
CREATE INDEX "outbox_audit_log_at_idx" ON "outbox_audit_log"("at");
