/**
 * Runs `work` now, or once more after the current run if one is going: a burst of live events gives
 * at most two fetches, and an older answer never overwrites a newer one. A failure goes to `report`.
 */
export function coalesced(work, report) {
  let running = null
  let again = false
  return async function run() {
    if (running) {
      again = true
      return running
    }
    running = (async () => {
      do {
        again = false
        try {
          await work()
        } catch (error) {
          report(error)
        }
      } while (again)
    })()
    await running
    running = null
  }
}
