import { api } from '../api.js'
import { h, replace } from '../dom.js'
import { activityItem } from './activities.js'

const GROUPS = [
  ['overdue', 'Overdue'],
  ['today', 'Today'],
  ['planned', 'Planned'],
]

/** My open activities across records, grouped by state (red, orange, green) with their counts. */
export async function renderMyActivities(ctx, container) {
  const body = h('div')
  async function load() {
    const mine = await api('GET', '/api/v1/my/activities?limit=200')
    replace(
      body,
      GROUPS.map(([state, label]) => {
        const items = mine.items.filter((activity) => activity.state === state)
        return h(
          'section',
          { class: `activity-group group-${state}`, dataset: { state } },
          h(
            'h2',
            {},
            h('span', { class: `state-dot state-${state}` }),
            `${label} `,
            h('span', { class: 'count', text: `(${mine.counts[state]})` }),
          ),
          items.length
            ? h(
                'ul',
                { class: 'activities' },
                items.map((activity) =>
                  activityItem(ctx, activity, {
                    showRecord: true,
                    onChanged: () => load().catch(ctx.report),
                  }),
                ),
              )
            : h('p', { class: 'muted', text: 'Nothing.' }),
        )
      }),
    )
  }
  replace(container, h('div', { class: 'view-header' }, h('h1', { text: 'My activities' })), body)
  await load()
  return ctx.live.onEvent((event) => {
    if ((event.scope === 'user' && event.type === 'activities.changed') || event.type === 'resync')
      load().catch(ctx.report)
  })
}
