-- CreateTable
CREATE TABLE "demo_user" (
    "id" UUID NOT NULL,
    "email" TEXT NOT NULL,
    "name" TEXT NOT NULL,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "demo_user_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "demo_order" (
    "id" UUID NOT NULL,
    "user_id" UUID NOT NULL,
    "lines" JSONB NOT NULL,
    "total_cents" INTEGER NOT NULL,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "demo_order_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "demo_profile" (
    "user_id" UUID NOT NULL,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "demo_profile_pkey" PRIMARY KEY ("user_id")
);

-- CreateTable
CREATE TABLE "demo_signup_log" (
    "id" BIGSERIAL NOT NULL,
    "user_id" UUID NOT NULL,
    "message_id" UUID NOT NULL,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "demo_signup_log_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "demo_inventory_item" (
    "sku" TEXT NOT NULL,
    "available" INTEGER NOT NULL,

    CONSTRAINT "demo_inventory_item_pkey" PRIMARY KEY ("sku")
);

-- CreateTable
CREATE TABLE "demo_inventory_reservation" (
    "id" BIGSERIAL NOT NULL,
    "order_id" UUID NOT NULL,
    "sku" TEXT NOT NULL,
    "quantity" INTEGER NOT NULL,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "demo_inventory_reservation_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "demo_provider_call" (
    "id" BIGSERIAL NOT NULL,
    "provider" TEXT NOT NULL,
    "idempotency_key" TEXT NOT NULL,
    "subject" TEXT NOT NULL,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "demo_provider_call_pkey" PRIMARY KEY ("id")
);

-- CreateIndex
CREATE UNIQUE INDEX "demo_user_email_key" ON "demo_user"("email");

-- CreateIndex
CREATE INDEX "demo_order_user_id_idx" ON "demo_order"("user_id");

-- CreateIndex
CREATE INDEX "demo_signup_log_user_id_idx" ON "demo_signup_log"("user_id");

-- CreateIndex
CREATE INDEX "demo_inventory_reservation_order_id_idx" ON "demo_inventory_reservation"("order_id");

-- CreateIndex
CREATE UNIQUE INDEX "demo_provider_call_provider_idempotency_key_key" ON "demo_provider_call"("provider", "idempotency_key");

-- AddForeignKey
ALTER TABLE "demo_order" ADD CONSTRAINT "demo_order_user_id_fkey" FOREIGN KEY ("user_id") REFERENCES "demo_user"("id") ON DELETE RESTRICT ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "demo_profile" ADD CONSTRAINT "demo_profile_user_id_fkey" FOREIGN KEY ("user_id") REFERENCES "demo_user"("id") ON DELETE RESTRICT ON UPDATE CASCADE;
