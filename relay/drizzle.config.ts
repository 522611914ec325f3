import { defineConfig } from 'drizzle-kit'

// `pnpm --filter @ochat/relay db:generate` writes migrations to drizzle/; they are committed, and CI
// regenerates them and fails on any difference.
export default defineConfig({
  dialect: 'postgresql',
  schema: './src/db/schema.ts',
  out: './drizzle',
})
