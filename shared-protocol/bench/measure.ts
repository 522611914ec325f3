/** Small helpers for benchmarks: run a body for a while, several times, and report the median. */

export type Figure = { name: string; median: number; unit: string; runs: number[] }

export function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b)
  const middle = Math.floor(sorted.length / 2)
  return sorted.length % 2 ? (sorted[middle] ?? 0) : ((sorted[middle - 1] ?? 0) + (sorted[middle] ?? 0)) / 2
}

/** Calls `body` in a loop for `seconds`, `runs` times; returns operations per second per run. */
export function opsPerSecond(body: () => void, { seconds = 1, runs = 5 } = {}): number[] {
  for (let warm = 0; warm < 200; warm++) body()
  const results: number[] = []
  for (let run = 0; run < runs; run++) {
    const deadline = performance.now() + seconds * 1000
    let count = 0
    const start = performance.now()
    while (performance.now() < deadline) {
      for (let batch = 0; batch < 50; batch++) body()
      count += 50
    }
    results.push(count / ((performance.now() - start) / 1000))
  }
  return results
}

export async function asyncRuns(body: () => Promise<number>, runs = 5): Promise<number[]> {
  await body() // warm-up
  const results: number[] = []
  for (let run = 0; run < runs; run++) results.push(await body())
  return results
}

export function report(figure: Omit<Figure, 'median'>): Figure {
  const done = { ...figure, median: median(figure.runs) }
  const spread = `min ${format(Math.min(...figure.runs))}, max ${format(Math.max(...figure.runs))}`
  console.log(
    `${figure.name.padEnd(58)} ${format(done.median).padStart(10)} ${figure.unit.padEnd(6)} (median of ${figure.runs.length}; ${spread})`,
  )
  return done
}

function format(value: number): string {
  return value >= 100 ? Math.round(value).toLocaleString('en-US') : value.toFixed(1)
}
