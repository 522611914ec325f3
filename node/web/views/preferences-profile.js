import { api, apiUpload } from '../api.js'
import { avatar } from '../avatar.js'
import { h, replace } from '../dom.js'
import { icon } from '../icon.js'
import { failureText, outcomeLine, prefField, prefSection, whileSaving } from './preferences-parts.js'

/** What the node takes as a picture (people/avatar-image.ts): these types, up to 256 KB. */
const PICTURE_TYPES = ['image/png', 'image/jpeg', 'image/webp']
const PICTURE_MAX_BYTES = 256 * 1024

/**
 * Profile: name and email (saved together), and the picture colleagues see beside your name:
 * choose a file, see it, upload it; or remove it and go back to initials.
 */
export function profileSection({ user, saved }) {
  const name = h('input', {
    id: 'prefs-name',
    type: 'text',
    value: user().name,
    autocomplete: 'name',
    required: true,
  })
  const email = h('input', {
    id: 'prefs-email',
    type: 'email',
    value: user().email ?? '',
    autocomplete: 'email',
    placeholder: 'you@example.com',
  })
  const save = h('button', { type: 'submit', class: 'primary', text: 'Save profile' })
  const outcome = outcomeLine()
  const form = h(
    'form',
    {
      class: 'prefs-form',
      attrs: { novalidate: '' },
      on: {
        submit: (event) => {
          event.preventDefault()
          outcome.clear()
          if (!name.value.trim()) return outcome.fail(null, 'Give your name.')
          return whileSaving(save, async () => {
            try {
              const body = { name: name.value.trim(), email: email.value.trim() || null }
              saved(await api('PATCH', `/api/v1/users/${user().id}`, body))
              outcome.ok('Profile saved.')
            } catch (failure) {
              outcome.fail(failure, emailFailure(failure))
            }
          })
        },
      },
    },
    prefField('Name', name),
    prefField('Email', email),
    h('div', { class: 'actions' }, save),
    outcome.el,
  )
  return prefSection('profile', 'Profile', form, pictureForm({ user, saved }))
}

/** The node refuses removing the address while the daily digest is on: say what to do about it. */
function emailFailure(failure) {
  if (failure?.code === 'E_DIGEST_NEEDS_EMAIL')
    return 'Your daily digest is sent by email: turn it off (Notifications, below) before removing the address.'
  return failureText(failure)
}

function pictureForm({ user, saved }) {
  const current = h('div', { class: 'prefs-picture-current' })
  const file = h('input', {
    id: 'prefs-picture',
    type: 'file',
    accept: PICTURE_TYPES.join(','),
    class: 'prefs-picture-input',
  })
  const preview = h('img', { class: 'prefs-picture-preview', alt: 'The picture chosen', hidden: true })
  const upload = h(
    'button',
    { type: 'submit', class: 'primary', disabled: true },
    icon('upload'),
    ' Upload picture',
  )
  const remove = h('button', { type: 'button', class: 'secondary' }, icon('trash-2'), ' Remove picture')
  const outcome = outcomeLine()

  function showCurrent() {
    replace(current, avatar(user(), 'avatar-large'))
    remove.hidden = !user().avatarUrl
  }

  file.addEventListener('change', () => {
    outcome.clear()
    const chosen = file.files?.[0]
    preview.hidden = true
    upload.disabled = true
    if (!chosen) return
    if (!PICTURE_TYPES.includes(chosen.type)) return outcome.fail(null, 'Choose a PNG, JPEG or WebP picture.')
    if (chosen.size > PICTURE_MAX_BYTES)
      return outcome.fail(null, 'This picture is larger than 256 KB: choose a smaller one.')
    // A data: URL, which the page's security policy allows for images (blob: URLs it does not).
    const reader = new FileReader()
    reader.addEventListener('load', () => {
      preview.src = String(reader.result)
      preview.hidden = false
      upload.disabled = false
    })
    reader.readAsDataURL(chosen)
  })

  remove.addEventListener('click', () => {
    outcome.clear()
    return whileSaving(remove, async () => {
      try {
        await api('DELETE', `/api/v1/users/${user().id}/avatar`)
        saved({ ...user(), avatarUrl: null })
        showCurrent()
        outcome.ok('Picture removed.')
      } catch (failure) {
        outcome.fail(failure)
      }
    })
  })

  const form = h(
    'form',
    {
      class: 'prefs-form prefs-picture',
      on: {
        submit: async (event) => {
          event.preventDefault()
          const chosen = file.files?.[0]
          if (!chosen) return
          outcome.clear()
          upload.disabled = true
          try {
            const { avatarUrl } = await apiUpload('PUT', `/api/v1/users/${user().id}/avatar`, chosen)
            saved({ ...user(), avatarUrl })
            file.value = ''
            preview.hidden = true
            showCurrent()
            outcome.ok('Picture saved.')
          } catch (failure) {
            outcome.fail(failure)
          } finally {
            upload.disabled = !file.files?.[0]
          }
        },
      },
    },
    h('h3', { text: 'Picture' }),
    h('div', { class: 'prefs-picture-row' }, current, preview),
    prefField('Choose a picture (PNG, JPEG or WebP, up to 256 KB)', file),
    h('div', { class: 'actions' }, upload, remove),
    outcome.el,
  )
  showCurrent()
  return form
}
