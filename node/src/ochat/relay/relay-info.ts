import type { WriteQueue } from '../../db/write-queue.ts'
import type { SubmitPacer } from '../delivery/pacing.ts'
import type { Instance } from '../identity/instance.ts'
import { refreshRelayKeySet } from '../identity/relay-key-set.ts'
import type { RelayHttpClient } from './http-client.ts'

/**
 * Reads what the relay publishes about itself: the outbox paces to the rate limits it publishes, and a
 * newer key set signed by a pinned key is pinned (identity/relay-key-set.ts). A relay that cannot be
 * asked now changes nothing: the rates and keys read last time stay.
 *
 * Answers whether rates were read, and the instance with its new pins when the key set changed.
 */
export async function readRelayInfo(props: {
  http: RelayHttpClient
  pacer: SubmitPacer
  writes: WriteQueue
  instance: Instance
  warn: (message: string) => void
}): Promise<{ ratesRead: boolean; updated: Instance | undefined }> {
  const rates = await props.http.rates().then(
    (read) => ({ read }),
    () => undefined,
  )
  if (rates) props.pacer.useRates(rates.read?.submit)
  const info = await props.http.info().catch(() => undefined)
  const updated = info
    ? await refreshRelayKeySet({
        info,
        writes: props.writes,
        instance: props.instance,
        warn: props.warn,
      }).catch(() => undefined)
    : undefined
  return { ratesRead: rates !== undefined, updated }
}
