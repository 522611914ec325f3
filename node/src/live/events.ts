/**
 * What the node pushes to connected UI clients. Record events go to sockets that subscribed to that
 * record (access checked when they subscribed); user events go to that user's sockets only.
 */
export type LiveEvent =
  | { scope: 'record'; recordId: number; type: 'message.created' | 'message.updated'; messageId: number }
  | { scope: 'record'; recordId: number; type: 'record.updated' | 'followers.changed' | 'activities.changed' }
  | { scope: 'user'; userId: number; type: 'inbox.changed' }
  | { scope: 'user'; userId: number; type: 'activities.changed' }

/** Events collected by a command inside its transaction, published by the route after commit. */
export type Effects = { events: LiveEvent[] }

export function newEffects(): Effects {
  return { events: [] }
}
