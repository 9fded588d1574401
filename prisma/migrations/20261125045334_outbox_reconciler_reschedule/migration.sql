-- CreateTable
CREATE TABLE "outbox_reschedule" (
    "message_id" UUID NOT NULL,
    "consumer" VARCHAR(255) NOT NULL,
    "count" INTEGER NOT NULL DEFAULT 1,
    "last_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "next_at" TIMESTAMPTZ(3) NOT NULL,
    "run_id" BIGINT NOT NULL,

    CONSTRAINT "outbox_reschedule_pkey" PRIMARY KEY ("message_id","consumer")
);

-- CreateIndex
CREATE INDEX "outbox_reschedule_last_at_idx" ON "outbox_reschedule"("last_at");
