/**
 * What a crashed agent said (issue 17 "When things fail"): from the end of its output, its own error — the last line
 * that reads as an error (`agent failed to boot: …`, `TypeError: …`, `Error [ERR_…]: …`) with its first stack frame —
 * rather than Node's closing `Node.js v20.x` line or a blank.
 */

const errorLine = /(^|\s)(agent failed to boot|[A-Za-z]*Error\b|Error \[|Uncaught|fatal)/
const nodeTrailer = /^Node\.js v\d+/

/**
 * The agent's own error in `output` (the tail of its logs), one line with its first frame; else its last meaningful
 * line; undefined when there is nothing.
 *
 * @example
 * agentError('file:///app/dist/main.js:3\n    at x\nTypeError: boom\n    at main (file:///app/dist/main.js:3:9)\n\nNode.js v20.20.2')
 * // 'TypeError: boom (at main (file:///app/dist/main.js:3:9))'
 */
export function agentError(output: string): string | undefined {
  const lines = output
    .split('\n')
    .map((l) => l.replace(/\s+$/, ''))
    .filter((l) => l.length > 0 && !nodeTrailer.test(l))
  for (let i = lines.length - 1; i >= 0; i--) {
    const line = lines[i] as string
    if (!errorLine.test(line) || /^\s+at /.test(line)) continue
    const frame = lines[i + 1]?.match(/^\s+at (.+)$/)?.[1]
    return `${line.trim()}${frame ? ` (at ${frame})` : ''}`
  }
  return lines.at(-1)?.trim()
}
