-- Ordered consumers (docs/ordered-consumers.md): where each key stands per consumer,
-- the operators' skips, the inbox states of held and parked messages, and an index
-- over every keyed message by (ordering_key, seq) for the sequence check. Building the
-- index blocks writes to outbox_message while it runs: on a large outbox, prune first
-- or apply this migration in a quiet moment.
-- AlterEnum
-- This migration adds more than one value to an enum.
-- With PostgreSQL versions 11 and earlier, this is not possible
-- in a single migration. This can be worked around by creating
-- multiple migrations, each migration adding only one value to
-- the enum.


ALTER TYPE "outbox_inbox_status" ADD VALUE 'waiting';
ALTER TYPE "outbox_inbox_status" ADD VALUE 'parked';
ALTER TYPE "outbox_inbox_status" ADD VALUE 'skipped';

-- CreateTable
CREATE TABLE "outbox_ordered_key" (
    "consumer" VARCHAR(255) NOT NULL,
    "ordering_key" VARCHAR(255) NOT NULL,
    "done_seq" BIGINT NOT NULL DEFAULT 0,
    "parked_message_id" UUID,
    "parked_seq" BIGINT,
    "parked_at" TIMESTAMPTZ(3),
    "parked_error" TEXT,
    "has_waiting" BOOLEAN NOT NULL DEFAULT false,
    "updated_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "outbox_ordered_key_pkey" PRIMARY KEY ("consumer","ordering_key")
);

-- CreateTable
CREATE TABLE "outbox_skipped" (
    "consumer" VARCHAR(255) NOT NULL,
    "message_id" UUID NOT NULL,
    "ordering_key" VARCHAR(255) NOT NULL,
    "skipped_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "skipped_by" VARCHAR(255) NOT NULL,
    "reason" TEXT NOT NULL,
    "error" TEXT,

    CONSTRAINT "outbox_skipped_pkey" PRIMARY KEY ("consumer","message_id")
);

-- CreateIndex
CREATE INDEX "outbox_ordered_key_parked_idx" ON "outbox_ordered_key"("consumer", "parked_at") WHERE (parked_at IS NOT NULL);

-- CreateIndex
CREATE INDEX "outbox_message_key_seq_idx" ON "outbox_message"("ordering_key", "seq") WHERE (ordering_key IS NOT NULL);
