// Configuration of the Prisma CLI for this repository (client generation; the
// ordinary `prisma migrate deploy` on machines that can download Prisma's engines).
// Where they cannot, `npm run outbox -- migrate` applies the same migrations.
import { defineConfig } from 'prisma/config';

export default defineConfig({
  schema: 'prisma/schema',
  migrations: { path: 'prisma/migrations' },
  datasource: { url: process.env.DATABASE_URL ?? 'postgresql://postgres@127.0.0.1:5432/outbox' },
});
