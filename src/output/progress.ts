// A progress bar on stderr for long operations, only when stderr is a terminal.
import cliProgress from 'cli-progress'

export interface Progress {
  update: (event: {bytesDone: number; bytesTotal: number}) => void
  stop: () => void
}

/** Starts drawing only for inputs of at least `minBytes` (small inputs finish before it matters). */
export function progressReporter(label: string, minBytes = 64 * 1024 * 1024): Progress | undefined {
  if (!process.stderr.isTTY) return undefined
  let bar: cliProgress.SingleBar | undefined
  return {
    update({bytesDone, bytesTotal}) {
      if (bytesTotal < minBytes) return
      const mb = (n: number) => Math.round(n / 1048576)
      if (!bar) {
        bar = new cliProgress.SingleBar(
          {format: `${label} [{bar}] {percentage}% | {value}/{total} MiB`, stream: process.stderr, hideCursor: true, clearOnComplete: true},
          cliProgress.Presets.shades_classic,
        )
        bar.start(mb(bytesTotal), 0)
      }
      bar.update(mb(bytesDone))
    },
    stop() {
      bar?.stop()
    },
  }
}
