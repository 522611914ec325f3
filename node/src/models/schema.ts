import { z } from 'zod'

/** A model by its name, in the URL. */
export const ModelParams = z.object({ model: z.string().max(64) })
