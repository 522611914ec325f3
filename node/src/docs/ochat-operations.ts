import { z } from 'zod'
import { itemsOf, PageQuerySchema, pageOf } from '../api/pagination.ts'
import { BulkBody, BulkListQuery, BulkSummarySchema } from '../ochat/bulk/schema.ts'
import { ChannelViewSchema, OchatMessageViewSchema } from '../ochat/channels/presenter.ts'
import { LinkBody, RecordSendBody, SendBody } from '../ochat/channels/routes.ts'
import { ConnectionViewSchema } from '../ochat/connections/presenter.ts'
import {
  ConnectionListQuery,
  ConnectionRequestBody,
  DecisionBody,
  VerifyBody,
} from '../ochat/connections/routes.ts'
import { RegisterBody, RegistrationViewSchema } from '../ochat/identity/routes.ts'
import type { Operation } from './operations.ts'

/** O'Chat: registration, connections, channels and messages. Part of OPERATIONS. */
export const OCHAT_OPERATIONS: Operation[] = [
  {
    method: 'get',
    path: '/api/v1/ochat/registration',
    summary: "This node's registration with its relay: valid, suspended or unreachable, with the last error",
    auth: 'ochat:read',
    ok: { status: 200, schema: RegistrationViewSchema },
  },
  {
    method: 'post',
    path: '/api/v1/ochat/registration',
    summary: 'Register with a relay: generates the keys here, pins the relay key set (administrators)',
    auth: 'admin',
    body: RegisterBody,
    ok: { status: 201, schema: RegistrationViewSchema },
  },
  {
    method: 'post',
    path: '/api/v1/ochat/registration/rotate-keys',
    summary:
      "New identity and encryption keys, announced to the relay (administrators); each peer's channel pauses until its admin verifies the new safety code",
    auth: 'admin',
    ok: { status: 200, schema: RegistrationViewSchema },
  },
  {
    method: 'post',
    path: '/api/v1/ochat/registration/check',
    summary: 'Ask the relay now how it sees this node',
    auth: 'ochat:read',
    ok: { status: 200, schema: RegistrationViewSchema },
  },
  {
    method: 'get',
    path: '/api/v1/ochat/connections',
    summary:
      'Connections with other companies (administrators see all, with safety codes; users the accepted ones)',
    auth: 'ochat:read',
    query: ConnectionListQuery,
    ok: { status: 200, schema: itemsOf(ConnectionViewSchema) },
  },
  {
    method: 'post',
    path: '/api/v1/ochat/connections',
    summary: 'Request a connection by instance id, with a message and the contact it is filed under',
    auth: 'admin',
    body: ConnectionRequestBody,
    ok: { status: 201, schema: ConnectionViewSchema },
  },
  {
    method: 'post',
    path: '/api/v1/ochat/connections/sync',
    summary:
      "Read every connection from the relay now (new requests, the other side's decisions, key changes)",
    auth: 'admin',
    ok: { status: 200, schema: itemsOf(ConnectionViewSchema) },
  },
  {
    method: 'get',
    path: '/api/v1/ochat/connections/{id}',
    summary: 'One connection',
    auth: 'ochat:read',
    ok: { status: 200, schema: ConnectionViewSchema },
  },
  ...(['accept', 'reject', 'revoke'] as const).map(
    (action): Operation => ({
      method: 'post',
      path: `/api/v1/ochat/connections/{id}/${action}`,
      summary:
        action === 'accept'
          ? 'Accept an incoming request (a contact is required): both sides get a channel'
          : action === 'reject'
            ? 'Reject an incoming request'
            : 'Revoke: nothing flows any more, queued messages are purged',
      auth: 'admin',
      body: DecisionBody,
      ok: { status: 200, schema: ConnectionViewSchema },
    }),
  ),
  {
    method: 'post',
    path: '/api/v1/ochat/connections/{id}/contact',
    summary: 'File the other company under another contact',
    auth: 'admin',
    body: z.object({ contactPartnerId: z.int().positive() }),
    ok: { status: 200, schema: ConnectionViewSchema },
  },
  {
    method: 'post',
    path: '/api/v1/ochat/connections/{id}/verify',
    summary: "After comparing the new safety code with the other company: pin the peer's new keys and resume",
    auth: 'admin',
    body: VerifyBody,
    ok: { status: 200, schema: ConnectionViewSchema },
  },
  {
    method: 'get',
    path: '/api/v1/ochat/channels',
    summary: 'Your channels, most recent activity first, with unread counts',
    auth: 'ochat:read',
    ok: { status: 200, schema: itemsOf(ChannelViewSchema) },
  },
  {
    method: 'get',
    path: '/api/v1/ochat/channels/{id}',
    summary: 'One channel',
    auth: 'ochat:read',
    ok: { status: 200, schema: ChannelViewSchema },
  },
  {
    method: 'get',
    path: '/api/v1/ochat/channels/{id}/messages',
    summary: "A channel's messages, newest first, with their delivery status",
    auth: 'ochat:read',
    query: PageQuerySchema,
    ok: { status: 200, schema: pageOf(OchatMessageViewSchema) },
  },
  {
    method: 'post',
    path: '/api/v1/ochat/channels/{id}/messages',
    summary: 'Send an encrypted message (Markdown shortcuts or HTML, up to 5 files); it starts Pending',
    auth: 'ochat:write',
    body: SendBody,
    ok: { status: 201, schema: OchatMessageViewSchema },
  },
  {
    method: 'post',
    path: '/api/v1/ochat/channels/{id}/read',
    summary: 'Open the thread: its messages are read here, and Read receipts leave (batched)',
    auth: 'ochat:read',
    ok: { status: 200, schema: z.object({ read: z.int(), opened: z.int() }) },
  },
  {
    method: 'post',
    path: '/api/v1/ochat/messages/{id}/retry',
    summary: 'Send a Failed message again',
    auth: 'ochat:write',
    ok: { status: 200, schema: OchatMessageViewSchema },
  },
  {
    method: 'post',
    path: '/api/v1/ochat/messages/{id}/link',
    summary: "File an incoming thread about one of the other company's records on one of ours",
    auth: 'ochat:write',
    body: LinkBody,
    ok: { status: 200, schema: itemsOf(OchatMessageViewSchema) },
  },
  {
    method: 'post',
    path: '/api/v1/ochat/bulk',
    summary:
      'Send one message (and its files, uploaded once) to up to 1,000 channels; each recipient gets its own status. A channel you cannot write to fails the whole request (422, named)',
    auth: 'ochat:write',
    body: BulkBody,
    ok: { status: 201, schema: BulkSummarySchema },
  },
  {
    method: 'get',
    path: '/api/v1/ochat/bulk',
    summary: 'Your bulk sends (administrators: every one), newest first, with counts by status',
    auth: 'ochat:read',
    query: BulkListQuery,
    ok: { status: 200, schema: pageOf(BulkSummarySchema) },
  },
  {
    method: 'get',
    path: '/api/v1/ochat/bulk/{id}',
    summary:
      "One bulk send: every recipient's status, with the reason and next step when it is Retrying or Failed",
    auth: 'ochat:read',
    ok: { status: 200, schema: BulkSummarySchema },
  },
  {
    method: 'get',
    path: '/api/v1/records/{id}/ochat',
    summary: "A record's O'Chat thread, both ways",
    auth: 'ochat:read',
    ok: { status: 200, schema: itemsOf(OchatMessageViewSchema) },
  },
  {
    method: 'post',
    path: '/api/v1/records/{id}/ochat',
    summary: "Send an O'Chat message about this record to a channel; replies come back to the record",
    auth: 'ochat:write',
    body: RecordSendBody,
    ok: { status: 201, schema: OchatMessageViewSchema },
  },
  {
    method: 'post',
    path: '/ochat/webhook',
    summary:
      'Deliveries from the relay while the WebSocket is down (Standard Webhooks v1a, signed by a pinned relay key)',
    auth: 'public',
    ok: {
      status: 200,
      description: 'WebhookResponse: one result per item and Delivered receipts (PROTOCOL.md §7)',
    },
  },
]
