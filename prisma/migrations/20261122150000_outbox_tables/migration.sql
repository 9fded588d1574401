-- CreateSchema
CREATE SCHEMA IF NOT EXISTS "public";

-- CreateEnum
CREATE TYPE "outbox_message_status" AS ENUM ('pending', 'published', 'failed');

-- CreateEnum
CREATE TYPE "outbox_inbox_status" AS ENUM ('processing', 'done', 'dead');

-- CreateTable
CREATE TABLE "outbox_message" (
    "id" UUID NOT NULL,
    "seq" BIGSERIAL NOT NULL,
    "event_type" VARCHAR(255) NOT NULL,
    "event_version" INTEGER NOT NULL DEFAULT 1,
    "ordering_key" VARCHAR(255),
    "payload" JSONB NOT NULL,
    "headers" JSONB NOT NULL DEFAULT '{}',
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "available_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "status" "outbox_message_status" NOT NULL DEFAULT 'pending',
    "attempts" INTEGER NOT NULL DEFAULT 0,
    "last_error" TEXT,
    "published_at" TIMESTAMPTZ(3),
    "locked_by" VARCHAR(255),
    "locked_until" TIMESTAMPTZ(3),

    CONSTRAINT "outbox_message_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "outbox_inbox" (
    "consumer" VARCHAR(255) NOT NULL,
    "message_id" UUID NOT NULL,
    "status" "outbox_inbox_status" NOT NULL DEFAULT 'processing',
    "attempts" INTEGER NOT NULL DEFAULT 0,
    "last_error" TEXT,
    "received_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updated_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "done_at" TIMESTAMPTZ(3),

    CONSTRAINT "outbox_inbox_pkey" PRIMARY KEY ("consumer","message_id")
);

-- CreateIndex
CREATE UNIQUE INDEX "outbox_message_seq_key" ON "outbox_message"("seq");

-- CreateIndex
CREATE INDEX "outbox_message_pending_due_idx" ON "outbox_message"("available_at", "seq") WHERE (status = 'pending');

-- CreateIndex
CREATE INDEX "outbox_message_pending_key_idx" ON "outbox_message"("ordering_key", "seq") WHERE (status = 'pending' AND ordering_key IS NOT NULL);

-- CreateIndex
CREATE INDEX "outbox_message_type_created_idx" ON "outbox_message"("event_type", "created_at");
