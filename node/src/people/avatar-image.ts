/** The picture types a browser shows everywhere; anything else (SVG above all: it runs scripts) is refused. */
export const AVATAR_TYPES = ['image/png', 'image/jpeg', 'image/webp'] as const
export type AvatarType = (typeof AVATAR_TYPES)[number]

/** 256 KB: a contact's picture is drawn at 40 px; anything larger is a photo nobody resized. */
export const AVATAR_MAX_BYTES = 256 * 1024

const PNG = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]
const JPEG = [0xff, 0xd8, 0xff]

function startsWith(bytes: Buffer, prefix: number[], at = 0): boolean {
  return prefix.every((byte, index) => bytes[at + index] === byte)
}

/**
 * The type the bytes really are, from their signature (PNG: its 8-byte signature; JPEG: SOI and a
 * marker; WebP: a RIFF container of form WEBP), or null. The client's Content-Type is never believed:
 * what is stored is served with this type.
 */
export function sniffAvatarType(bytes: Buffer): AvatarType | null {
  if (startsWith(bytes, PNG)) return 'image/png'
  if (startsWith(bytes, JPEG)) return 'image/jpeg'
  if (
    bytes.length >= 12 &&
    bytes.toString('latin1', 0, 4) === 'RIFF' &&
    bytes.toString('latin1', 8, 12) === 'WEBP'
  )
    return 'image/webp'
  return null
}

/** Where a partner's picture is read; the version changes with every upload, so caches refresh. */
export function avatarUrl(partnerId: number, updatedAt: number | null | undefined): string | null {
  return updatedAt === null || updatedAt === undefined
    ? null
    : `/api/v1/partners/${partnerId}/avatar?v=${updatedAt}`
}
