import { api } from '../api.js'
import { h, replace } from '../dom.js'
import { keysSection } from './preferences-keys.js'
import { notificationsSection, timeZoneSection } from './preferences-notify.js'
import { passwordSection } from './preferences-password.js'
import { profileSection } from './preferences-profile.js'

export const PREFERENCES_HASH = '#/preferences'

/**
 * Preferences (#/preferences, reached from your name in the top bar): profile and picture,
 * notifications, time zone, password, personal API keys. Each section saves on its own and says how
 * it went; what the top bar shows follows a saved name or picture at once.
 */
export async function renderPreferences(ctx, container) {
  ctx.highlight(PREFERENCES_HASH)
  let current = await api('GET', `/api/v1/users/${ctx.user.id}`)
  const user = () => current
  const saved = (next) => {
    current = next
    ctx.setUser(next)
  }
  const keys = keysSection({ ctx })
  await keys.refresh()
  replace(
    container,
    h(
      'div',
      { class: 'prefs-page' },
      h('h1', { text: 'Preferences' }),
      profileSection({ user, saved }),
      notificationsSection({ user, saved }),
      timeZoneSection({ user, saved }),
      passwordSection({ user, keysRevoked: () => void keys.refresh() }),
      keys.section,
    ),
  )
}
