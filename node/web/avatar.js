import { avatarClass, h, initials } from './dom.js'

/**
 * A person's round picture: their uploaded image when they have one (`avatarUrl` from the API), else
 * their initials on their colour. `person`: `{ partnerId, name, avatarUrl }`; `extra`: more classes.
 */
export function avatar(person, extra = '') {
  const name = person?.name ?? 'System'
  const partnerId = person?.partnerId ?? 0
  const className = [avatarClass(partnerId), extra].filter(Boolean).join(' ')
  if (!person?.avatarUrl) return h('span', { class: className, text: initials(name) })
  // The name is beside the picture wherever it is drawn: the image itself is decoration.
  return h('img', {
    class: `${className} avatar-image`,
    src: person.avatarUrl,
    alt: '',
    attrs: { width: 34, height: 34 },
  })
}
