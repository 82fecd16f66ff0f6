// biome-ignore-all lint/suspicious/noTemplateCurlyInString: the scripts are shell code, where ${…} is the shell's
/**
 * Shell completion scripts generated from the command spec (`spec.ts`): the command words at each level, then the
 * flags of the command typed so far. One table of "path → words", written out in each shell's own language.
 */
import { type CommandSpec, commands, type FlagSpec, globalFlags } from './spec.js'

export const shells = ['bash', 'zsh', 'fish'] as const
export type Shell = (typeof shells)[number]

/** What to offer after each command path: its subcommands, and (for a command that runs) its flags. */
export type Level = { path: string; words: string[]; flags: readonly FlagSpec[]; runs: boolean }

/** Every level of the command tree, the longest paths first (so a shell's first match is the most specific). */
export function levels(specs: readonly CommandSpec[] = commands): Level[] {
  const byPath = new Map<string, Level>()
  const level = (path: string) => {
    const existing = byPath.get(path)
    if (existing) return existing
    const created: Level = { path, words: [], flags: [], runs: false }
    byPath.set(path, created)
    return created
  }
  level('')
  for (const spec of specs) {
    for (let i = 0; i < spec.path.length; i++) {
      const parent = level(spec.path.slice(0, i).join(' '))
      const word = spec.path[i] as string
      if (!parent.words.includes(word)) parent.words.push(word)
      level(spec.path.slice(0, i + 1).join(' '))
    }
    const leaf = level(spec.path.join(' '))
    leaf.flags = [...spec.flags, ...globalFlags].filter((f) => !f.hidden)
    leaf.runs = true
  }
  return [...byPath.values()].sort((a, b) => b.path.split(' ').length - a.path.split(' ').length || b.path.length - a.path.length)
}

const flagWords = (l: Level) => l.flags.map((f) => `--${f.name}`)

/** The completion script for `shell`. */
export function script(shell: Shell, specs: readonly CommandSpec[] = commands): string {
  const all = levels(specs)
  if (shell === 'bash') return bash(all)
  if (shell === 'zsh') return zsh(all)
  return fish(all)
}

/** A case pattern: the exact path, and for a command that runs also the path followed by arguments. */
const patterns = (l: Level) => (l.runs && l.path !== '' ? `"${l.path}"|"${l.path} "*` : `"${l.path}"`)

function bash(all: Level[]): string {
  const cases = all.map((l) => `    ${patterns(l)}) opts="${[...l.words, ...flagWords(l)].join(' ')}" ;;`)
  return [
    '# regent completion for bash: eval "$(regent completion bash)" (e.g. in ~/.bashrc)',
    '_regent() {',
    '  local cur="${COMP_WORDS[COMP_CWORD]}" cmdpath="" opts="" w',
    '  for w in "${COMP_WORDS[@]:1:COMP_CWORD-1}"; do',
    '    case "$w" in -*) ;; *) cmdpath="${cmdpath:+$cmdpath }$w" ;; esac',
    '  done',
    '  case "$cmdpath" in',
    ...cases,
    '  esac',
    '  COMPREPLY=($(compgen -W "$opts" -- "$cur"))',
    '}',
    'complete -o default -F _regent regent',
    '',
  ].join('\n')
}

function zsh(all: Level[]): string {
  const cases = all.map((l) => `    ${patterns(l)}) opts=(${[...l.words, ...flagWords(l)].join(' ')}) ;;`)
  return [
    '#compdef regent',
    '# regent completion for zsh: eval "$(regent completion zsh)" (e.g. in ~/.zshrc, after compinit)',
    '_regent() {',
    '  local -a opts',
    '  local cmdpath="${(j: :)${(@)words[2,CURRENT-1]:#-*}}"',
    '  case "$cmdpath" in',
    ...cases,
    '  esac',
    '  compadd -- $opts',
    '}',
    'compdef _regent regent',
    '',
  ].join('\n')
}

function fish(all: Level[]): string {
  const lines = [
    '# regent completion for fish: regent completion fish > ~/.config/fish/completions/regent.fish',
    'function __regent_path',
    '    set -l words (commandline -opc)',
    '    set -e words[1]',
    "    string join ' ' (string match -v -- '-*' $words)",
    'end',
    'function __regent_is --description "the command typed so far is exactly $argv[1]"',
    '    set -l p (__regent_path)',
    '    test "$p" = "$argv[1]"',
    'end',
    'function __regent_in --description "the command typed so far is $argv[1], maybe with arguments"',
    '    set -l p (__regent_path)',
    '    test "$p" = "$argv[1]"; or string match -q -- "$argv[1] *" "$p"',
    'end',
    'complete -c regent -f',
  ]
  for (const l of [...all].reverse()) {
    if (l.words.length) lines.push(`complete -c regent -n '__regent_is "${l.path}"' -a '${l.words.join(' ')}'`)
    for (const f of l.flags) {
      const value = f.value ? (f.choices ? ` -x -a '${f.choices.join(' ')}'` : ' -r') : ''
      lines.push(`complete -c regent -n '__regent_in "${l.path}"' -l ${f.name}${value} -d '${f.description.replace(/'/g, "\\'")}'`)
    }
  }
  return `${lines.join('\n')}\n`
}
