-- AlterTable
ALTER TABLE "demo_provider_call" ADD COLUMN     "calls" INTEGER NOT NULL DEFAULT 1;
