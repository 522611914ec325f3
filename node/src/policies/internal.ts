/**
 * Internal stays internal: a message of an internal subtype (a logged note, an
 * activity) reaches internal partners only, whatever an external partner chose to follow, and an
 * external partner cannot pick an internal subtype. The follower fan-out applies the same rule in SQL
 * (notifications/fan-out.ts, `@internal = 0 or p.internal = 1`) and must agree with it.
 */
export function reachesPartner(content: { internal: boolean }, partner: { internal: boolean }): boolean {
  return !content.internal || partner.internal
}
