/** The progress list every multi-step command shows (listr2), in one place. */
import { Listr, ListrLogger, type ListrTask, ProcessOutput } from 'listr2'

/** Progress on stderr: the animated list on a terminal, plain lines off a TTY or with --json (stdout keeps the JSON). */
export function progress<ctx>(tasks: ListrTask<ctx>[], json: boolean) {
  const processOutput = new ProcessOutput(process.stderr, process.stderr)
  const common = { exitOnError: true, registerSignalListeners: false } as const
  return !json && process.stderr.isTTY
    ? new Listr<ctx, 'default', 'simple'>(tasks, {
        ...common,
        renderer: 'default',
        rendererOptions: { logger: new ListrLogger({ processOutput }) },
      })
    : new Listr<ctx, 'simple', 'simple'>(tasks, {
        ...common,
        renderer: 'simple',
        rendererOptions: { logger: new ListrLogger({ processOutput }) },
      })
}
