/**
 * One WebSocket per tab to /api/v1/live. It re-subscribes to the open record after every reconnect,
 * reconnects with exponential backoff (0.5 s doubling up to 15 s, with jitter), and tells the page
 * when it is connected so it can show a "reconnecting…" badge and refetch what it may have missed.
 */
const PING_EVERY_MS = 25_000
const MAX_BACKOFF_MS = 15_000

export class LiveSocket {
  #socket = null
  #recordId = null
  #attempt = 0
  #timer = null
  #pinger = null
  #stopped = true
  #listeners = new Set()
  #statusListeners = new Set()
  connected = false

  start() {
    this.#stopped = false
    this.#connect()
  }

  stop() {
    this.#stopped = true
    clearTimeout(this.#timer)
    clearInterval(this.#pinger)
    this.#socket?.close(1000, 'logged out')
    this.#socket = null
    this.#setConnected(false)
  }

  /** Listens to events ({scope, type, recordId?}) and to 'resync' after a reconnect. */
  onEvent(listener) {
    this.#listeners.add(listener)
    return () => this.#listeners.delete(listener)
  }

  onStatus(listener) {
    this.#statusListeners.add(listener)
    listener(this.connected)
    return () => this.#statusListeners.delete(listener)
  }

  /** The record the page shows; null when none. One at a time. */
  watchRecord(recordId) {
    if (this.#recordId === recordId) return
    if (this.#recordId !== null) this.#send({ type: 'unsubscribe', recordId: this.#recordId })
    delete document.documentElement.dataset.liveRecord
    this.#recordId = recordId
    if (recordId !== null) this.#send({ type: 'subscribe', recordId })
  }

  #connect() {
    const scheme = location.protocol === 'https:' ? 'wss:' : 'ws:'
    const socket = new WebSocket(`${scheme}//${location.host}/api/v1/live`)
    this.#socket = socket
    socket.addEventListener('message', (message) => this.#receive(message.data))
    socket.addEventListener('close', () => {
      if (this.#socket !== socket) return
      clearInterval(this.#pinger)
      this.#socket = null
      delete document.documentElement.dataset.liveRecord
      this.#setConnected(false)
      if (this.#stopped) return
      const delay = Math.min(MAX_BACKOFF_MS, 500 * 2 ** this.#attempt) * (0.75 + Math.random() * 0.5)
      this.#attempt += 1
      this.#timer = setTimeout(() => this.#connect(), delay)
    })
  }

  #receive(data) {
    let frame
    try {
      frame = JSON.parse(String(data))
    } catch {
      return
    }
    if (frame.type === 'ready') {
      const wasReconnect = this.#attempt > 0
      this.#attempt = 0
      this.#setConnected(true)
      if (this.#recordId !== null) this.#send({ type: 'subscribe', recordId: this.#recordId })
      clearInterval(this.#pinger)
      this.#pinger = setInterval(() => this.#send({ type: 'ping' }), PING_EVERY_MS)
      // Events sent while we were away are lost: let the page refetch what it shows.
      if (wasReconnect) this.#emit({ scope: 'client', type: 'resync' })
    } else if (frame.type === 'subscribed') {
      // Lets people (and the browser tests) see that live updates for this record are on.
      document.documentElement.dataset.liveRecord = String(frame.recordId)
    } else if (frame.type === 'event' && frame.event) this.#emit(frame.event)
  }

  #emit(event) {
    for (const listener of this.#listeners) listener(event)
  }

  #send(frame) {
    if (this.#socket?.readyState === WebSocket.OPEN && this.connected)
      this.#socket.send(JSON.stringify(frame))
  }

  #setConnected(connected) {
    if (this.connected === connected) return
    this.connected = connected
    // Lets the browser tests know live events flow before they act on another tab.
    document.documentElement.dataset.live = connected ? 'on' : 'off'
    for (const listener of this.#statusListeners) listener(connected)
  }
}
