import { z } from 'zod'
import { CalendarViewSchema } from '../activities/calendar-routes.ts'
import {
  ActivityTypeViewSchema,
  UpdateBody as ActivityUpdateBody,
  ActivityViewSchema,
  DoneBody,
  DoneViewSchema,
  MyActivitiesQuery,
  MyActivitiesViewSchema,
  RecordActivitiesViewSchema,
  ScheduleBody,
} from '../activities/schema.ts'
import { itemsOf, PageQuerySchema, pageOf } from '../api/pagination.ts'
import { UploadQuery } from '../attachments/schema.ts'
import type { Scope } from '../auth/scopes.ts'
import { AttachmentViewSchema, MessageViewSchema } from '../chatter/presenter.ts'
import { ChatterQuery, EditBody, PostBody } from '../chatter/routes.ts'
import { FollowBody, FollowerChoice, FollowerViewSchema, SubtypesQuery } from '../followers/routes.ts'
import { ModelDefinitionSchema } from '../models/define-model.ts'
import { ModelViewSchema } from '../models/routes.ts'
import { InboxQuery, ReadAllBody } from '../notifications/routes.ts'
import { RecordViewSchema } from '../records/presenter.ts'
import { RecordBodies } from '../records/routes.ts'
import { OCHAT_OPERATIONS } from './ochat-operations.ts'
import { PEOPLE_OPERATIONS } from './people-operations.ts'

/**
 * Every route of the node, with the zod schemas it validates with: the OpenAPI document at /docs is
 * built from this list (openapi.ts). A test checks it against every route the app registers.
 */
export type Operation = {
  method: 'get' | 'post' | 'patch' | 'delete'
  path: string
  summary: string
  /** public, or the API-key scope the route needs (admin: also an administrator). */
  auth: 'public' | Scope | 'session'
  query?: z.ZodObject
  body?: z.ZodType
  bodyType?: 'application/octet-stream'
  ok: { status: number; schema?: z.ZodType; type?: string; description?: string }
}

const InboxItem = z.object({
  id: z.int(),
  reason: z.enum(['message', 'mention', 'assigned', 'activity']),
  read: z.boolean(),
  createdAt: z.int(),
  record: z.object({ id: z.int(), name: z.string(), model: z.string() }),
  message: MessageViewSchema.nullable(),
  activityId: z.int().nullable(),
})
const Counters = z.object({
  unread: z.int(),
  records: z.array(z.object({ recordId: z.int(), name: z.string(), model: z.string(), unread: z.int() })),
})

export const OPERATIONS: Operation[] = [
  { method: 'get', path: '/healthz', summary: 'Liveness', auth: 'public', ok: { status: 200 } },
  { method: 'get', path: '/docs', summary: 'This document', auth: 'public', ok: { status: 200 } },
  { method: 'get', path: '/', summary: 'The web UI', auth: 'public', ok: { status: 200, type: 'text/html' } },
  { method: 'get', path: '/assets/*', summary: 'Web UI files', auth: 'public', ok: { status: 200 } },
  ...PEOPLE_OPERATIONS,
  // Models and records
  {
    method: 'get',
    path: '/api/v1/models',
    summary: 'Models and their fields',
    auth: 'models:read',
    ok: { status: 200, schema: itemsOf(ModelViewSchema) },
  },
  {
    method: 'get',
    path: '/api/v1/models/{model}',
    summary: 'One model',
    auth: 'models:read',
    ok: { status: 200, schema: ModelViewSchema },
  },
  {
    method: 'post',
    path: '/api/v1/models',
    summary: 'Define a model (administrators): fields, tracking sequences, assignee, restricted fields',
    auth: 'admin',
    body: ModelDefinitionSchema,
    ok: { status: 201, schema: ModelViewSchema },
  },
  {
    method: 'get',
    path: '/api/v1/models/{model}/records',
    summary: 'Records of a model you may see, newest first',
    auth: 'records:read',
    query: PageQuerySchema,
    ok: { status: 200, schema: pageOf(RecordViewSchema) },
  },
  {
    method: 'post',
    path: '/api/v1/models/{model}/records',
    summary: 'Create a record',
    auth: 'records:write',
    body: RecordBodies.CreateBody,
    ok: { status: 201, schema: RecordViewSchema },
  },
  {
    method: 'get',
    path: '/api/v1/records/{id}',
    summary: 'One record, with its worst activity state',
    auth: 'records:read',
    ok: { status: 200, schema: RecordViewSchema },
  },
  {
    method: 'patch',
    path: '/api/v1/records/{id}',
    summary: 'Change a record; send the version you read (409 if it changed since)',
    auth: 'records:write',
    body: RecordBodies.UpdateBody,
    ok: { status: 200, schema: RecordViewSchema },
  },
  {
    method: 'delete',
    path: '/api/v1/records/{id}',
    summary: 'Delete a record with its chatter and files',
    auth: 'records:write',
    ok: { status: 204 },
  },
  // Chatter
  {
    method: 'get',
    path: '/api/v1/records/{id}/messages',
    summary: "A record's chatter, newest first, optionally by kind",
    auth: 'chatter:read',
    query: ChatterQuery,
    ok: { status: 200, schema: pageOf(MessageViewSchema) },
  },
  {
    method: 'post',
    path: '/api/v1/records/{id}/messages',
    summary: 'Send a message or log a note',
    auth: 'chatter:write',
    body: PostBody,
    ok: { status: 201, schema: MessageViewSchema },
  },
  {
    method: 'get',
    path: '/api/v1/messages/{id}',
    summary: 'One message',
    auth: 'chatter:read',
    ok: { status: 200, schema: MessageViewSchema },
  },
  {
    method: 'patch',
    path: '/api/v1/messages/{id}',
    summary: 'Edit a comment (author or administrator); the old body is kept',
    auth: 'chatter:write',
    body: EditBody,
    ok: { status: 200, schema: MessageViewSchema },
  },
  {
    method: 'delete',
    path: '/api/v1/messages/{id}',
    summary: 'Delete a comment: it stays as a tombstone',
    auth: 'chatter:write',
    ok: { status: 204 },
  },
  {
    method: 'get',
    path: '/api/v1/messages/{id}/versions',
    summary: "A message's earlier bodies",
    auth: 'chatter:read',
    ok: {
      status: 200,
      schema: itemsOf(z.object({ body: z.string(), replacedBy: z.int().nullable(), replacedAt: z.int() })),
    },
  },
  {
    method: 'post',
    path: '/api/v1/attachments',
    summary: 'Upload a file (raw bytes, Content-Length required); attach it to a message by id',
    auth: 'chatter:write',
    query: UploadQuery,
    bodyType: 'application/octet-stream',
    ok: { status: 201, schema: AttachmentViewSchema },
  },
  {
    method: 'get',
    path: '/api/v1/attachments/{id}',
    summary: "A file's details",
    auth: 'chatter:read',
    ok: { status: 200 },
  },
  {
    method: 'get',
    path: '/api/v1/attachments/{id}/content',
    summary: 'Download a file (Range supported)',
    auth: 'chatter:read',
    ok: { status: 200, type: 'application/octet-stream' },
  },
  {
    method: 'delete',
    path: '/api/v1/attachments/{id}',
    summary: 'Delete an upload not yet on a message',
    auth: 'chatter:write',
    ok: { status: 204 },
  },
  // Followers
  {
    method: 'get',
    path: '/api/v1/subtypes',
    summary: 'Message subtypes, general or of one model (internal ones never reach external contacts)',
    auth: 'chatter:read',
    query: SubtypesQuery,
    ok: { status: 200 },
  },
  {
    method: 'get',
    path: '/api/v1/records/{id}/followers',
    summary: 'Followers and their subscription',
    auth: 'chatter:read',
    ok: { status: 200, schema: itemsOf(FollowerViewSchema) },
  },
  {
    method: 'post',
    path: '/api/v1/records/{id}/followers',
    summary: 'Add a follower',
    auth: 'chatter:write',
    body: FollowBody,
    ok: { status: 201, schema: itemsOf(FollowerViewSchema) },
  },
  {
    method: 'patch',
    path: '/api/v1/records/{id}/followers/{partnerId}',
    summary: "Change a follower's subscription",
    auth: 'chatter:write',
    body: FollowerChoice,
    ok: { status: 200, schema: itemsOf(FollowerViewSchema) },
  },
  {
    method: 'delete',
    path: '/api/v1/records/{id}/followers/{partnerId}',
    summary: 'Remove a follower',
    auth: 'chatter:write',
    ok: { status: 204 },
  },
  {
    method: 'get',
    path: '/api/v1/records/{id}/suggested-recipients',
    summary: 'Customers of the record who do not follow it',
    auth: 'chatter:read',
    ok: { status: 200 },
  },
  // Activities
  {
    method: 'get',
    path: '/api/v1/activity-types',
    summary: 'Activity types, delays and chaining',
    auth: 'activities:read',
    ok: { status: 200, schema: itemsOf(ActivityTypeViewSchema) },
  },
  {
    method: 'get',
    path: '/api/v1/records/{id}/activities',
    summary: "A record's open activities and its worst state",
    auth: 'activities:read',
    ok: { status: 200, schema: RecordActivitiesViewSchema },
  },
  {
    method: 'post',
    path: '/api/v1/records/{id}/activities',
    summary: 'Schedule an activity',
    auth: 'activities:write',
    body: ScheduleBody,
    ok: { status: 201, schema: ActivityViewSchema },
  },
  {
    method: 'get',
    path: '/api/v1/activities/{id}',
    summary: 'One activity',
    auth: 'activities:read',
    ok: { status: 200, schema: ActivityViewSchema },
  },
  {
    method: 'patch',
    path: '/api/v1/activities/{id}',
    summary: 'Reschedule, reassign (the new assignee is told) or edit',
    auth: 'activities:write',
    body: ActivityUpdateBody,
    ok: { status: 200, schema: ActivityViewSchema },
  },
  {
    method: 'post',
    path: '/api/v1/activities/{id}/snooze',
    summary: 'Snooze 7 days',
    auth: 'activities:write',
    ok: { status: 200, schema: ActivityViewSchema },
  },
  {
    method: 'post',
    path: '/api/v1/activities/{id}/cancel',
    summary: 'Cancel (kept for reporting)',
    auth: 'activities:write',
    ok: { status: 200, schema: ActivityViewSchema },
  },
  {
    method: 'post',
    path: '/api/v1/activities/{id}/done',
    summary: 'Mark done with feedback: posts a message, triggers or suggests the next',
    auth: 'activities:write',
    body: DoneBody,
    ok: { status: 200, schema: DoneViewSchema },
  },
  {
    method: 'get',
    path: '/api/v1/my/activities',
    summary: 'Your open activities by state, with counts',
    auth: 'activities:read',
    query: MyActivitiesQuery,
    ok: { status: 200, schema: MyActivitiesViewSchema },
  },
  {
    method: 'get',
    path: '/api/v1/my/calendar',
    summary: 'The URL of your iCal feed of calls and meetings (the URL is the secret)',
    auth: 'activities:read',
    ok: { status: 200, schema: CalendarViewSchema },
  },
  {
    method: 'post',
    path: '/api/v1/my/calendar/rotate',
    summary: 'A new iCal feed URL; the old one stops working',
    auth: 'activities:write',
    ok: { status: 200, schema: CalendarViewSchema },
  },
  {
    method: 'get',
    path: '/ical/{token}.ics',
    summary: "A user's calls and meetings as an iCal feed (the token is the secret)",
    auth: 'public',
    ok: { status: 200, type: 'text/calendar' },
  },
  // Inbox and live events
  {
    method: 'get',
    path: '/api/v1/inbox',
    summary: 'Your inbox notifications',
    auth: 'chatter:read',
    query: InboxQuery,
    ok: { status: 200, schema: pageOf(InboxItem) },
  },
  {
    method: 'get',
    path: '/api/v1/inbox/counters',
    summary: 'Unread counts, in all and per record',
    auth: 'chatter:read',
    ok: { status: 200, schema: Counters },
  },
  {
    method: 'post',
    path: '/api/v1/inbox/{id}/read',
    summary: 'Mark one notification read',
    auth: 'chatter:read',
    ok: { status: 204 },
  },
  {
    method: 'post',
    path: '/api/v1/inbox/read-all',
    summary: 'Mark all read, or all of one record',
    auth: 'chatter:read',
    body: ReadAllBody,
    ok: { status: 200, schema: z.object({ marked: z.int() }) },
  },
  {
    method: 'get',
    path: '/api/v1/live',
    summary: 'WebSocket of live events: send {type:"subscribe", recordId} to follow a record',
    auth: 'chatter:read',
    ok: { status: 101, description: 'Switching protocols' },
  },
  ...OCHAT_OPERATIONS,
]
