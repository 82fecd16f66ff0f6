/** The progress list every multi-step command shows (listr2), in one place. */
import { Listr, ListrLogger, ListrLogLevels, type ListrTask, ProcessOutput } from 'listr2'

/** Off a terminal each step prints once, when it ends (its final title), not also when it starts. */
class OnceLogger extends ListrLogger {
  override log(level: ListrLogLevels, message: Parameters<ListrLogger['log']>[1], options?: Parameters<ListrLogger['log']>[2]): void {
    if (level !== ListrLogLevels.STARTED) super.log(level, message, options)
  }
}

/** The lists drawing now: an interrupt stops them (spinner stopped, last frame drawn, cursor shown). */
const active = new Set<{ renderer?: { end(error?: Error): void } }>()

/** Progress on stderr: the animated list on a terminal, plain lines off a TTY or with --json (stdout keeps the JSON). */
export function progress<ctx>(tasks: ListrTask<ctx>[], json: boolean) {
  const processOutput = new ProcessOutput(process.stderr, process.stderr)
  const common = { exitOnError: true, registerSignalListeners: false } as const
  const list =
    !json && process.stderr.isTTY
      ? new Listr<ctx, 'default' | 'simple', 'simple'>(tasks, {
          ...common,
          renderer: 'default',
          rendererOptions: { logger: new ListrLogger({ processOutput }) },
        })
      : new Listr<ctx, 'default' | 'simple', 'simple'>(tasks, {
          ...common,
          renderer: 'simple',
          rendererOptions: { logger: new OnceLogger({ processOutput }) },
        })
  const run = list.run.bind(list)
  list.run = async (context?: ctx) => {
    const handle = list as unknown as { renderer?: { end(error?: Error): void } }
    active.add(handle)
    try {
      return await run(context)
    } finally {
      active.delete(handle)
    }
  }
  return list
}

/** Stops every list drawing now (on an interrupt): the terminal is left with its last frame and the cursor shown. */
export function endProgress(): void {
  for (const list of active) {
    try {
      list.renderer?.end(new Error('interrupted'))
    } catch {}
  }
  active.clear()
}
