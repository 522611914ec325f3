import { z } from 'zod'

export const RegisterBody = z.strictObject({
  relayUrl: z.url({ protocol: /^https?$/ }).max(2000),
  /** One-time token from the relay's operator, when the relay registers by invitation. */
  inviteToken: z.string().min(16).max(200).optional(),
  /** The name peers see; this node's company name by default. */
  name: z.string().trim().min(1).max(200).optional(),
  /** Where the relay POSTs deliveries when the socket is down; null: WebSocket only. */
  webhookUrl: z
    .url({ protocol: /^https?$/ })
    .max(2000)
    .nullable()
    .optional(),
})
