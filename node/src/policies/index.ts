// The node's access rules, in one place: who may read and write a record, what a credential allows,
// who administers, what reaches external partners, whose inbox is whose, who may change people,
// messages and files, and who sees which O'Chat connections, channels and bulk sends.
// Routes and commands ask here; none decides access on its own.

export { authorizeAttachmentDeletion, loadAttachment } from './attachments.ts'
export { authorizeMessageChange, seesDeletedHistory } from './chatter.ts'
export { ownInboxCondition, visibleInboxCondition } from './inbox.ts'
export { reachesPartner } from './internal.ts'
export {
  readableChannel,
  readableChannelCondition,
  seesAllConnections,
  visibleBulk,
  visibleBulkCondition,
  visibleConnection,
  visibleConnectionStates,
} from './ochat.ts'
export {
  authorizeApiKeyCreation,
  authorizeApiKeyMinting,
  authorizePartnerChange,
  authorizeUserChange,
  needsCurrentPassword,
  ownsApiKey,
} from './people.ts'
export { canRead, loadRecord, readableAnyModelCondition, readableCondition } from './records.ts'
export { isAdmin, type RouteCaller, routeCaller, scopeAllows, seesEverything } from './roles.ts'
