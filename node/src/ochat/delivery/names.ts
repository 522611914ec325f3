/** C0, DEL and C1 control characters. */
const CONTROL = /\p{Cc}/gu
/** Bidi overrides and isolates: "invoice\u202Efdp.exe" shows as "invoiceexe.pdf" (as attachments/schema.ts refuses). */
const DIRECTION_OVERRIDE = /[\u202A-\u202E\u2066-\u2069]/gu

/**
 * A name another company (or the relay) chose, made safe to show here: file names, sender names and
 * companies, record names, peer names. The protocol refuses C0 controls in most of them, but not DEL,
 * C1 controls or direction overrides, which make a name read as another ("Gina \u202Egnp.exe") or
 * break the line it is shown on. They are dropped, as our own uploads refuse them.
 */
export function foreignName(text: string, fallback: string): string {
  const clean = text.replace(CONTROL, '').replace(DIRECTION_OVERRIDE, '').trim()
  return clean || fallback
}
