import { createHash, randomBytes } from 'node:crypto'

export function sha256(text: string): string {
  return createHash('sha256').update(text).digest('base64url')
}

export function randomToken(bytes = 32): string {
  return randomBytes(bytes).toString('base64url')
}
