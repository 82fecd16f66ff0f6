/**
 * A local npm registry for the packed `@regent-tee/*` tarballs, so that they install exactly as they will once
 * published (`npm install -g @regent-tee/cli`, a project's `npm install`), with a plain npm client and nothing linked.
 * It is a stand-in for the one thing that cannot be done here — `npm publish` to registry.npmjs.org:
 *
 * - `GET /<name>` of a packed package: its packument (the package.json inside the tarball, `dist.tarball`,
 *   `dist.integrity` sha512 and `dist.shasum` of the exact bytes); `GET /-/tarballs/<file>`: the tarball.
 * - every other request is forwarded byte for byte to the upstream registry (npm's configured one), so third-party
 *   packages come from where they always do.
 * - `GET /-/prebuilds/v<version>/<file>`: better-sqlite3's prebuilt binary for this platform, made from the binary this
 *   checkout already compiled (what better-sqlite3's GitHub releases serve; point
 *   `npm_config_better_sqlite3_binary_host` here). Without it every install compiles SQLite (minutes).
 *
 * `node scripts/local-registry.mjs --packs <dir>` runs it and prints its URL.
 */
import { execFileSync } from 'node:child_process'
import { createHash } from 'node:crypto'
import { existsSync, mkdtempSync, readdirSync, readFileSync } from 'node:fs'
import { createServer, request as httpRequest } from 'node:http'
import { request as httpsRequest } from 'node:https'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'

const root = fileURLToPath(new URL('..', import.meta.url))

/** Reads one file out of a .tgz (tar via the system's tar). */
function fromTarball(file, entry) {
  return execFileSync('tar', ['-xzOf', file, entry], { maxBuffer: 16 << 20 })
}

/** better-sqlite3's prebuilt tarball for this platform, made from this checkout's compiled binary, if it has one. */
function betterSqlitePrebuild() {
  const dir = join(root, 'node_modules', 'better-sqlite3')
  const binary = join(dir, 'build', 'Release', 'better_sqlite3.node')
  if (!existsSync(binary)) return undefined
  const { version } = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8'))
  const name = `better-sqlite3-v${version}-node-v${process.versions.modules}-${process.platform}-${process.arch}.tar.gz`
  const out = join(mkdtempSync(join(tmpdir(), 'regent-prebuild-')), name)
  execFileSync('tar', ['-czf', out, '-C', dir, 'build/Release/better_sqlite3.node'])
  return { path: `/-/prebuilds/v${version}/${name}`, bytes: readFileSync(out) }
}

/**
 * Starts the registry on 127.0.0.1.
 *
 * @param {{ packs: string, upstream?: string, port?: number }} options - `packs`: a directory of `npm pack` tarballs.
 * @returns {Promise<{ url: string, packages: string[], prebuildHost: string | undefined, close(): Promise<void> }>}
 */
export async function startLocalRegistry({ packs, upstream, port = 0 }) {
  const upstreamUrl = new URL(upstream ?? execFileSync('npm', ['config', 'get', 'registry'], { encoding: 'utf8' }).trim())
  const tarballs = new Map()
  const manifests = new Map()
  for (const file of readdirSync(packs).filter((f) => f.endsWith('.tgz'))) {
    const bytes = readFileSync(join(packs, file))
    const pkg = JSON.parse(fromTarball(join(packs, file), 'package/package.json').toString('utf8'))
    tarballs.set(file, bytes)
    manifests.set(pkg.name, { pkg, file, bytes })
  }
  const prebuild = betterSqlitePrebuild()
  let base = ''

  const packument = ({ pkg, file, bytes }) => ({
    name: pkg.name,
    'dist-tags': { latest: pkg.version },
    versions: {
      [pkg.version]: {
        ...pkg,
        _id: `${pkg.name}@${pkg.version}`,
        dist: {
          tarball: `${base}/-/tarballs/${file}`,
          integrity: `sha512-${createHash('sha512').update(bytes).digest('base64')}`,
          shasum: createHash('sha1').update(bytes).digest('hex'),
        },
      },
    },
    time: { [pkg.version]: new Date(0).toISOString() },
  })

  const forward = (req, res) => {
    const target = new URL(req.url.replace(/^\//, ''), upstreamUrl.href.endsWith('/') ? upstreamUrl : `${upstreamUrl}/`)
    const headers = { ...req.headers, host: target.host }
    const send = target.protocol === 'https:' ? httpsRequest : httpRequest
    const out = send(target, { method: req.method, headers }, (up) => {
      res.writeHead(up.statusCode ?? 502, up.headers)
      up.pipe(res)
    })
    out.on('error', (error) => {
      if (!res.headersSent) res.writeHead(502, { 'content-type': 'application/json' })
      res.end(JSON.stringify({ error: `upstream: ${error.message}` }))
    })
    req.pipe(out)
  }

  const server = createServer((req, res) => {
    const path = decodeURIComponent((req.url ?? '/').split('?')[0])
    if (req.method === 'GET' && path.startsWith('/-/tarballs/')) {
      const bytes = tarballs.get(path.slice('/-/tarballs/'.length))
      if (!bytes) return res.writeHead(404).end()
      return res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': bytes.length }).end(bytes)
    }
    if (req.method === 'GET' && path.startsWith('/-/prebuilds/')) {
      if (!prebuild || path !== prebuild.path) return res.writeHead(404).end()
      return res.writeHead(200, { 'content-type': 'application/gzip', 'content-length': prebuild.bytes.length }).end(prebuild.bytes)
    }
    const ours = req.method === 'GET' ? manifests.get(path.slice(1)) : undefined
    if (ours)
      return res.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'no-store' }).end(JSON.stringify(packument(ours)))
    forward(req, res)
  })
  await new Promise((done) => server.listen(port, '127.0.0.1', done))
  base = `http://127.0.0.1:${server.address().port}`
  return {
    url: `${base}/`,
    packages: [...manifests.keys()].sort(),
    prebuildHost: prebuild ? `${base}/-/prebuilds` : undefined,
    close: () => new Promise((done) => server.close(() => done())),
  }
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const at = process.argv.indexOf('--packs')
  const registry = await startLocalRegistry({ packs: resolve(at > 0 ? process.argv[at + 1] : join(root, '.packs')) })
  process.stdout.write(`${JSON.stringify({ url: registry.url, packages: registry.packages, prebuildHost: registry.prebuildHost })}\n`)
}
