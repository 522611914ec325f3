import { defineConfig } from 'drizzle-kit'

// `pnpm --filter @ochat/node db:generate` writes migrations to drizzle/; they are committed, and CI
// regenerates them and fails on any difference.
export default defineConfig({
  dialect: 'sqlite',
  schema: './src/db/schema.ts',
  out: './drizzle',
})
