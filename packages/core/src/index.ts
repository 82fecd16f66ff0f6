// @regent-tee/core: what every Regent package shares. Explicit exports only.
export * as Aead from './aead.js'
export * as Envelope from './envelope.js'
export { BaseError, type BaseErrorOptions, codedError, codePattern, type Reason, walk } from './errors.js'
export { concat, equalBytes, fromHex, type Hex, isHex, toHex } from './hex.js'
export {
  BodyTooLargeError,
  defaultBodyLimit,
  errorBody,
  HttpError,
  MalformedJsonError,
  MediaTypeError,
  parseJson,
  type ReadJsonOptions,
  readBody,
  readJson,
  sendHttpError,
  sendJson,
} from './http.js'
export { Lru } from './Lru.js'
export { type Guarded, type SpawnGuardedOptions, spawnGuarded } from './process.js'
