-- DropIndex
DROP INDEX "outbox_message_pending_key_idx";

-- CreateIndex
CREATE INDEX "outbox_message_unfinished_key_idx" ON "outbox_message"("ordering_key", "seq") WHERE (status IN ('pending', 'failed') AND ordering_key IS NOT NULL);
