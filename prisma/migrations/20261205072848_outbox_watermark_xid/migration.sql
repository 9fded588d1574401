-- The reconciler's watermark becomes a position in (writer_xid, seq) order: a row is
-- passed only once every transaction that could still commit an earlier one has ended
-- (see docs/reconciler.md). The lease columns go: the relay claims rows with row locks
-- held by its short batch transaction, and never used them.

-- AlterTable
-- Rows already written get 0 (a constant default: no table rewrite, no long lock);
-- rows written from now on record their transaction.
ALTER TABLE "outbox_message" DROP COLUMN "locked_by",
DROP COLUMN "locked_until",
ADD COLUMN     "writer_xid" xid8 NOT NULL DEFAULT '0'::xid8;
ALTER TABLE "outbox_message" ALTER COLUMN "writer_xid" SET DEFAULT pg_current_xact_id();

-- AlterTable
-- Existing watermarks keep their place: (0, watermark_seq) orders the rows written
-- before this migration by seq, as before, and every later row after them.
ALTER TABLE "outbox_consumer" ADD COLUMN     "watermark_xid" xid8 NOT NULL DEFAULT '0'::xid8;

-- CreateIndex
CREATE INDEX "outbox_message_writer_xid_seq_idx" ON "outbox_message"("writer_xid", "seq");
