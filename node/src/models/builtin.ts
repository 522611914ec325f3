import type { FieldOptions } from '../db/schema.ts'
import type { FieldType } from './fields.ts'

/** A model as declared in code or through the API, before it is stored. */
export type ModelDefinition = {
  name: string
  label: string
  userAccess: 'all' | 'own'
  fields: {
    name: string
    label: string
    type: FieldType
    required?: boolean
    trackingSequence?: number | null
    assignee?: boolean
    restricted?: boolean
    options?: FieldOptions
  }[]
}

const choices = (...labels: string[]) => ({
  choices: labels.map((label) => ({ value: label.toLowerCase().replace(/[^a-z0-9]+/g, '_'), label })),
})

const PRIORITY = choices('Low', 'Normal', 'High', 'Urgent')

/**
 * The built-in models. Every model has a `name` (the record's display name) and a tracked `stage`.
 * Tracking sequences put what readers look for first: the stage, then the assignee, then amounts and dates.
 */
export const BUILTIN_MODELS: ModelDefinition[] = [
  {
    name: 'lead',
    label: 'Lead',
    userAccess: 'all',
    fields: [
      { name: 'name', label: 'Opportunity', type: 'char', required: true },
      {
        name: 'stage',
        label: 'Stage',
        type: 'selection',
        trackingSequence: 1,
        options: choices('New', 'Qualified', 'Proposition', 'Won', 'Lost'),
      },
      { name: 'user_id', label: 'Salesperson', type: 'user', trackingSequence: 2, assignee: true },
      { name: 'partner_id', label: 'Customer', type: 'partner', trackingSequence: 3 },
      { name: 'email', label: 'Email', type: 'char' },
      { name: 'expected_revenue', label: 'Expected Revenue', type: 'monetary', trackingSequence: 10 },
      {
        name: 'probability',
        label: 'Probability (%)',
        type: 'float',
        restricted: true,
        trackingSequence: 11,
      },
      { name: 'priority', label: 'Priority', type: 'selection', trackingSequence: 20, options: PRIORITY },
      { name: 'date_deadline', label: 'Expected Closing', type: 'date', trackingSequence: 30 },
      { name: 'description', label: 'Notes', type: 'text' },
    ],
  },
  {
    name: 'sale_order',
    label: 'Sales Order',
    userAccess: 'all',
    fields: [
      { name: 'name', label: 'Order Reference', type: 'char', required: true },
      {
        name: 'stage',
        label: 'Status',
        type: 'selection',
        trackingSequence: 1,
        options: choices('Quotation', 'Quotation Sent', 'Sales Order', 'Locked', 'Cancelled'),
      },
      { name: 'user_id', label: 'Salesperson', type: 'user', trackingSequence: 2, assignee: true },
      { name: 'partner_id', label: 'Customer', type: 'partner', required: true, trackingSequence: 3 },
      { name: 'amount_total', label: 'Total', type: 'monetary', trackingSequence: 10 },
      { name: 'margin', label: 'Margin', type: 'monetary', restricted: true, trackingSequence: 11 },
      { name: 'date_order', label: 'Order Date', type: 'date', trackingSequence: 20 },
      { name: 'commitment_date', label: 'Delivery Date', type: 'datetime', trackingSequence: 21 },
      { name: 'note', label: 'Terms and conditions', type: 'text' },
    ],
  },
  {
    name: 'purchase_order',
    label: 'Purchase Order',
    userAccess: 'all',
    fields: [
      { name: 'name', label: 'Order Reference', type: 'char', required: true },
      {
        name: 'stage',
        label: 'Status',
        type: 'selection',
        trackingSequence: 1,
        options: choices('RFQ', 'RFQ Sent', 'Purchase Order', 'Done', 'Cancelled'),
      },
      { name: 'user_id', label: 'Buyer', type: 'user', trackingSequence: 2, assignee: true },
      { name: 'partner_id', label: 'Vendor', type: 'partner', required: true, trackingSequence: 3 },
      { name: 'amount_total', label: 'Total', type: 'monetary', trackingSequence: 10 },
      { name: 'date_planned', label: 'Expected Arrival', type: 'date', trackingSequence: 20 },
      { name: 'notes', label: 'Terms and conditions', type: 'text' },
    ],
  },
  {
    name: 'task',
    label: 'Task',
    userAccess: 'all',
    fields: [
      { name: 'name', label: 'Title', type: 'char', required: true },
      {
        name: 'stage',
        label: 'Stage',
        type: 'selection',
        trackingSequence: 1,
        options: choices('To Do', 'In Progress', 'Review', 'Done', 'Cancelled'),
      },
      { name: 'user_id', label: 'Assignee', type: 'user', trackingSequence: 2, assignee: true },
      { name: 'partner_id', label: 'Customer', type: 'partner', trackingSequence: 3 },
      { name: 'priority', label: 'Priority', type: 'selection', trackingSequence: 10, options: PRIORITY },
      { name: 'date_deadline', label: 'Deadline', type: 'date', trackingSequence: 20 },
      { name: 'planned_hours', label: 'Allocated Hours', type: 'float', trackingSequence: 30 },
      { name: 'description', label: 'Description', type: 'text' },
    ],
  },
  {
    name: 'ticket',
    label: 'Ticket',
    userAccess: 'all',
    fields: [
      { name: 'name', label: 'Subject', type: 'char', required: true },
      {
        name: 'stage',
        label: 'Stage',
        type: 'selection',
        trackingSequence: 1,
        options: choices('New', 'In Progress', 'On Hold', 'Solved', 'Cancelled'),
      },
      { name: 'user_id', label: 'Assigned to', type: 'user', trackingSequence: 2, assignee: true },
      { name: 'partner_id', label: 'Customer', type: 'partner', trackingSequence: 3 },
      { name: 'email', label: 'Customer Email', type: 'char' },
      { name: 'priority', label: 'Priority', type: 'selection', trackingSequence: 10, options: PRIORITY },
      { name: 'sla_deadline', label: 'SLA Deadline', type: 'datetime', trackingSequence: 20 },
      { name: 'description', label: 'Description', type: 'text' },
    ],
  },
]
