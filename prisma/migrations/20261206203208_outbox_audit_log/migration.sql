-- The operators' audit log (docs/console.md): what the console and the CLI did to the
-- pipeline (dead-letter replays and purges, retried failed rows), by whom and when. And two
-- small partial indexes read at every status, scrape and console refresh: failed outbox
-- rows, and each consumer's failed inbox rows (retrying or dead), newest first. Building
-- them reads the whole tables and blocks writes to them while it runs: on a large outbox,
-- prune first or apply this migration in a quiet moment.
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

-- CreateIndex
CREATE INDEX "outbox_message_failed_idx" ON "outbox_message"("id") WHERE (status = 'failed');

-- CreateIndex
CREATE INDEX "outbox_inbox_failures_idx" ON "outbox_inbox"("consumer", "updated_at") WHERE (status IN ('processing', 'dead'));
