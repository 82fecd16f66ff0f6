/** The progress list every multi-step command shows (listr2), in one place. */
import { Listr, ListrLogger, ListrLogLevels, type ListrTask, ProcessOutput } from 'listr2'
import { type Drawing, whileDrawing } from './interrupt.js'

/** Off a terminal each step prints once, when it ends (its final title), not also when it starts. */
class OnceLogger extends ListrLogger {
  override log(level: ListrLogLevels, message: Parameters<ListrLogger['log']>[1], options?: Parameters<ListrLogger['log']>[2]): void {
    if (level !== ListrLogLevels.STARTED) super.log(level, message, options)
  }
}

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
    const done = whileDrawing(list as unknown as Drawing)
    try {
      return await run(context)
    } finally {
      done()
    }
  }
  return list
}
