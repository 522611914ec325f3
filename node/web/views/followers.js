import { api } from '../api.js'
import { avatar } from '../avatar.js'
import { h, replace } from '../dom.js'
import { icon } from '../icon.js'

const CHOICES = [
  ['all', 'Everything'],
  ['comments', 'Messages only'],
  ['none', 'Nothing'],
]

/** Whether a follower gets "Send message" posts (the `comment` subtype). */
export function receivesMessages(follower) {
  if (follower.subscription === 'all' || follower.subscription === 'comments') return true
  return follower.subscription === 'custom' && follower.subtypes.includes('comment')
}

/**
 * A record's followers: a button with their count and a Follow toggle for the current user, and a
 * panel listing them, each with their subscription choice (editable), removable, plus "Add followers":
 * people picked by name, with an optional message they receive.
 */
export function mountFollowers(ctx, { recordId, toolbar, panel }) {
  let followers = []
  const countButton = h('button', {
    type: 'button',
    class: 'chatter-tool followers-button',
    attrs: { 'aria-expanded': 'false' },
    on: {
      click: () => {
        panel.hidden = !panel.hidden
        countButton.setAttribute('aria-expanded', String(!panel.hidden))
      },
    },
  })
  const followButton = h('button', {
    type: 'button',
    class: 'chatter-tool follow-button',
    on: { click: toggleFollow },
  })
  toolbar.append(followButton, countButton)
  panel.hidden = true

  const search = h('input', {
    type: 'search',
    placeholder: 'Add followers: type a name or email',
    class: 'follower-search',
    attrs: { 'aria-label': 'Find people to add as followers' },
  })
  const results = h('ul', { class: 'search-results' })
  /** The people chosen to be added, not yet added: partnerId → partner. */
  const invited = new Map()
  const invitedList = h('ul', { class: 'invited', attrs: { 'aria-label': 'To add' } })
  const inviteMessage = h('textarea', {
    class: 'invite-message',
    rows: 2,
    placeholder: 'Message to the new followers (optional)',
    attrs: { 'aria-label': 'Invitation message' },
  })
  const inviteButton = h('button', {
    type: 'button',
    class: 'primary small invite-button',
    text: 'Add followers',
    on: { click: () => addInvited().catch(ctx.report) },
  })
  const inviteForm = h(
    'div',
    { class: 'invite-form', hidden: true },
    invitedList,
    inviteMessage,
    inviteButton,
  )
  let searchTimer = null
  search.addEventListener('input', () => {
    clearTimeout(searchTimer)
    searchTimer = setTimeout(() => findPartners().catch(ctx.report), 250)
  })

  async function findPartners() {
    const text = search.value.trim()
    if (!text) return results.replaceChildren()
    const page = await api('GET', `/api/v1/partners?${new URLSearchParams({ search: text, limit: '8' })}`)
    const following = new Set(followers.map((follower) => follower.partnerId))
    replace(
      results,
      page.items
        .filter((partner) => !following.has(partner.id) && !invited.has(partner.id))
        .map((partner) =>
          h(
            'li',
            {},
            h('button', {
              type: 'button',
              class: 'link-button',
              text: `${partner.name}${partner.email ? ` <${partner.email}>` : ''}${partner.internal ? '' : ' (external)'}`,
              on: { click: () => pick(partner) },
            }),
          ),
        ),
    )
  }

  function pick(partner) {
    invited.set(partner.id, partner)
    search.value = ''
    results.replaceChildren()
    renderInvited()
    search.focus()
  }

  function renderInvited() {
    inviteForm.hidden = invited.size === 0
    replace(
      invitedList,
      [...invited.values()].map((partner) =>
        h(
          'li',
          { class: 'invited-person' },
          h('span', { text: partner.name }),
          h(
            'button',
            {
              type: 'button',
              class: 'icon-button',
              attrs: { 'aria-label': `Do not add ${partner.name}` },
              on: {
                click: () => {
                  invited.delete(partner.id)
                  renderInvited()
                },
              },
            },
            icon('x'),
          ),
        ),
      ),
    )
  }

  /** Adds the chosen people, each told the message if one was written. */
  async function addInvited() {
    const message = inviteMessage.value.trim()
    inviteButton.disabled = true
    try {
      for (const partner of [...invited.values()]) {
        const body = message ? { partnerId: partner.id, message } : { partnerId: partner.id }
        followers = (await api('POST', `/api/v1/records/${recordId}/followers`, body)).items
        invited.delete(partner.id)
      }
      inviteMessage.value = ''
      ctx.notify('Followers added')
    } finally {
      inviteButton.disabled = false
      renderInvited()
      render()
    }
  }

  async function toggleFollow() {
    const me = ctx.user.partnerId
    try {
      if (followers.some((follower) => follower.partnerId === me)) {
        await api('DELETE', `/api/v1/records/${recordId}/followers/${me}`)
        followers = followers.filter((follower) => follower.partnerId !== me)
      } else followers = (await api('POST', `/api/v1/records/${recordId}/followers`, { partnerId: me })).items
      render()
    } catch (error) {
      ctx.report(error)
    }
  }

  async function choose(partnerId, subscription) {
    try {
      followers = (await api('PATCH', `/api/v1/records/${recordId}/followers/${partnerId}`, { subscription }))
        .items
      ctx.notify('Subscription saved')
    } catch (error) {
      ctx.report(error)
    }
    render()
  }

  async function remove(partnerId) {
    try {
      await api('DELETE', `/api/v1/records/${recordId}/followers/${partnerId}`)
      followers = followers.filter((follower) => follower.partnerId !== partnerId)
      render()
    } catch (error) {
      ctx.report(error)
    }
  }

  function render() {
    countButton.textContent = `Followers (${followers.length})`
    const following = followers.some((follower) => follower.partnerId === ctx.user.partnerId)
    replace(followButton, ...(following ? ['Following ', icon('check')] : ['Follow']))
    followButton.classList.toggle('on', following)
    followButton.title = following ? 'Click to unfollow' : 'Get notified of new messages'
    replace(
      panel,
      h('h3', { text: 'Followers' }),
      h(
        'ul',
        { class: 'followers' },
        followers.map((follower) =>
          h(
            'li',
            { class: 'follower', dataset: { partnerId: String(follower.partnerId) } },
            avatar(follower),
            h(
              'span',
              { class: 'follower-name' },
              h('span', { text: follower.name }),
              h('span', {
                class: follower.internal ? 'tag' : 'tag tag-external',
                text: follower.internal ? 'employee' : 'external',
              }),
            ),
            h(
              'select',
              {
                class: 'subscription',
                title: 'What this follower is notified of',
                attrs: { 'aria-label': `Notifications for ${follower.name}` },
                on: { change: (event) => choose(follower.partnerId, event.target.value) },
              },
              CHOICES.map(([value, label]) =>
                h('option', { value, text: label, selected: follower.subscription === value }),
              ),
              follower.subscription === 'custom'
                ? h('option', { value: 'custom', text: 'Custom', selected: true, disabled: true })
                : null,
            ),
            h(
              'button',
              {
                type: 'button',
                class: 'icon-button',
                title: `Remove ${follower.name}`,
                attrs: { 'aria-label': `Remove ${follower.name}` },
                on: { click: () => remove(follower.partnerId) },
              },
              icon('x'),
            ),
          ),
        ),
      ),
      search,
      results,
      inviteForm,
    )
  }

  return {
    /** The followers as last loaded (the composer warns about external ones). */
    list: () => followers,
    async refresh() {
      followers = (await api('GET', `/api/v1/records/${recordId}/followers`)).items
      render()
    },
  }
}
