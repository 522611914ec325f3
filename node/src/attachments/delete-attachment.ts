import type { Principal } from '../auth/principal.ts'
import type { Db } from '../db/client.ts'
import { NodeError } from '../errors.ts'
import type { ModelRegistry } from '../models/registry.ts'
import { authorizeAttachmentDeletion, loadAttachment } from '../policies/index.ts'
import { countContentReferences, deleteAttachmentRow } from './repository.ts'
import { removeContent } from './storage.ts'

/**
 * Deletes an upload that is not on a message (or an activity) yet: by its uploader or an admin. Once
 * on a message a file is part of the chatter's history and stays with it. The bytes go only when no
 * other upload has the same content.
 */
export function deleteAttachment(input: {
  db: Db
  registry: ModelRegistry
  principal: Principal
  id: number
  /** The attachment directory (config.attachmentDir). */
  dir: string
}): void {
  const { principal } = input
  const sha256 = input.db.transaction((tx) => {
    const attachment = loadAttachment(tx, { principal, registry: input.registry, id: input.id })
    authorizeAttachmentDeletion(principal, attachment)
    if (attachment.messageId !== null || attachment.activityId !== null)
      throw new NodeError('E_ATTACHMENT_ATTACHED')
    deleteAttachmentRow(tx, attachment.id)
    return countContentReferences(tx, attachment.sha256) === 0 ? attachment.sha256 : undefined
  })
  // Same tick as the delete: no upload of this content can slip its row in between.
  if (sha256 !== undefined) removeContent(input.dir, sha256)
}
