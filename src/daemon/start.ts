// `cycles daemon start`: load config, start the daemon, print where it listens, drain on signals.
import {loadConfig} from '../config/load.js'
import {type StartupReconcile, reconcileAtStart} from '../config/startup.js'
import {RetentionSyntaxError, parseRetention, parseSize} from '../decision-log/retention.js'
import {CliError, EXIT} from '../cli/errors.js'
import {SecretKeyError, secretKeyFromEnv} from '../webhooks/secrets.js'
import {EmbeddedStore, StateDirLockedError} from '../store/embedded/embedded-store.js'
import {StateCorruptError} from '../store/embedded/state-damage.js'
import {StoreUnavailableError} from '../store/errors.js'
import {RedisStore} from '../store/redis/redis-store.js'
import type {Store} from '../store/types.js'
import {SIGNING_KEY_ENV} from '../integrity/log-identity.js'
import {SigningKeyError} from '../integrity/signing.js'
import {Daemon} from './daemon.js'

export interface StartOptions {
  configPath: string
  host: string
  port: number
  logDir: string
  stateDir: string
  log: (line: string) => void
  /** Redis URL (`--redis`, CYCLES_REDIS_URL): share state with every daemon on that Redis instead of the embedded store. */
  redisUrl?: string
  /** Admin plane port (0 = free port). */
  adminPort?: number
  /** Admin key (flag/env); overrides config `admin_key`. */
  adminKey?: string
  /** `--recover`: start on a damaged state directory, setting the damaged lines aside (embedded store only). */
  recover?: boolean
  /** `--log-retention`: an age, a total size or both (`7d,10GiB`). */
  logRetention?: string
  /** `--max-queue-ms`: shed requests that waited longer (0 = off). */
  maxQueueMs?: number
  /** `--max-rss`: shed while resident memory is above this size (`2GiB`). */
  maxRss?: string
  /** `--config-wins`: apply the file's values over the stored state before serving. */
  configWins?: boolean
  /** Where config `admin_key_env` is looked up (default: process.env). */
  env?: Record<string, string | undefined>
  /** Receives the config-vs-store comparison made at start. */
  onConfigReconciled?: (result: StartupReconcile) => void
}

/** The variable `daemon start` and the runbook commands read the admin key from. */
export const ADMIN_KEY_ENV = 'CYCLES_ADMIN_API_KEY'

export async function startDaemon(options: StartOptions): Promise<Daemon> {
  const config = loadConfig(options.configPath)
  if (options.adminKey !== undefined && options.adminKey.length < 16) {
    throw new CliError('CONFIG', `${ADMIN_KEY_ENV} must be at least 16 characters`, {exit: EXIT.CONFIG})
  }
  const adminKey = options.adminKey ?? adminKeyFromEnv(config.admin_key_env, options.configPath, options.env ?? process.env)
  const bounds = parseBounds(options)
  let webhookSecretKey: Buffer | undefined
  try {
    webhookSecretKey = secretKeyFromEnv(options.env ?? process.env)
  } catch (error) {
    if (!(error instanceof SecretKeyError)) throw error
    throw new CliError('CONFIG', error.message, {exit: EXIT.CONFIG})
  }
  let store: Store | undefined
  if (options.redisUrl) {
    try {
      store = await RedisStore.open({url: options.redisUrl, log: options.log})
    } catch (error) {
      if (!(error instanceof StoreUnavailableError)) throw error
      throw new CliError('STORE_UNREACHABLE', error.message, {exit: EXIT.UNREACHABLE, suggestions: ['check --redis / CYCLES_REDIS_URL and that redis-server is running']})
    }
  }
  try {
    store ??= await EmbeddedStore.open({stateDir: options.stateDir, recover: options.recover, log: options.log})
    const opened = store
    const reconciled = await reconcileAtStart(opened, config, {file: options.configPath, configWins: options.configWins ?? false, now: Date.now, log: options.log}).catch(async (error) => {
      await opened.close().catch(() => {})
      throw error
    })
    options.onConfigReconciled?.(reconciled)
    return await Daemon.start({
      config,
      ...(store ? {store} : {}),
      host: options.host,
      port: options.port,
      logDir: options.logDir,
      stateDir: options.stateDir,
      log: options.log,
      ...(options.adminPort === undefined ? {} : {adminPort: options.adminPort}),
      ...(adminKey ? {adminKey} : {}),
      ...(webhookSecretKey ? {webhookSecretKey} : {}),
      ...bounds,
      logSigningKeyPem: (options.env ?? process.env)[SIGNING_KEY_ENV] || undefined,
    })
  } catch (error) {
    if (error instanceof StateCorruptError) {
      const damaged = error.damage.map((d) => ({file: d.file, line: d.line, problem: d.problem}))
      throw new CliError('STATE_CORRUPT', error.summary, {exit: EXIT.STATE_CORRUPT, suggestions: error.remedies, details: {state_dir: error.dir, recoverable: error.recoverable, damaged}})
    }
    if (error instanceof StateDirLockedError) {
      throw new CliError('STATE_LOCKED', error.message, {exit: EXIT.STATE_LOCKED, suggestions: ['stop the other daemon, or pass a different --state-dir']})
    }
    if (error instanceof SigningKeyError) {
      throw new CliError('CONFIG', error.message, {exit: EXIT.CONFIG, suggestions: [`give an Ed25519 private key in PEM (PKCS#8), e.g. openssl genpkey -algorithm ed25519; or unset ${SIGNING_KEY_ENV} to use the key kept in the state directory`]})
    }
    const code = (error as NodeJS.ErrnoException).code
    if (code === 'EADDRINUSE') {
      throw new CliError('PORT_IN_USE', `port ${options.port} on ${options.host} is already in use`, {exit: EXIT.ERROR, suggestions: ['pass --port 0 to pick a free port']})
    }
    if (code === 'EACCES') throw new CliError('PORT_DENIED', `not allowed to listen on ${options.host}:${options.port}`, {exit: EXIT.ERROR})
    throw error
  }
}

/** Config `admin_key_env`: the admin plane is asked for, so a missing or short key stops the start. */
function adminKeyFromEnv(name: string | undefined, configPath: string, env: Record<string, string | undefined>): string | undefined {
  if (!name) return undefined
  const key = env[name]
  if (key && key.length >= 16) return key
  const how = `export ${name}=$(openssl rand -hex 16)`
  throw new CliError('CONFIG', `${configPath} asks for the admin plane with its key in $${name}, which is ${key ? 'shorter than 16 characters' : 'not set'}: ${how}`, {
    exit: EXIT.CONFIG,
    suggestions: [how, ...(name === ADMIN_KEY_ENV ? ['the runbook commands read the same variable'] : [`the runbook commands read ${ADMIN_KEY_ENV}: export ${ADMIN_KEY_ENV}="$${name}"`])],
  })
}

/** What `daemon start` prints about the admin plane: where it is and how the runbook commands reach it. */
export function adminPlaneNote(daemon: {adminUrl: string}, defaultAdminUrl: string): string[] {
  if (!daemon.adminUrl) return [`admin plane: off (no admin key); runtime plane only. For the runbook commands start it with ${ADMIN_KEY_ENV}=<at least 16 characters> in its environment (or admin_key_env in the config)`]
  const url = daemon.adminUrl === defaultAdminUrl ? '' : ` CYCLES_ADMIN_URL=${daemon.adminUrl}`
  return [`runbook commands: export ${ADMIN_KEY_ENV}=<this daemon's admin key>${url}`]
}

/** `--log-retention`, `--max-queue-ms` and `--max-rss`, checked before anything starts. */
function parseBounds(options: StartOptions): {logRetention?: ReturnType<typeof parseRetention>; shedding: {maxQueueMs?: number; maxRssBytes?: number}} {
  let logRetention: ReturnType<typeof parseRetention> | undefined
  try {
    if (options.logRetention) logRetention = parseRetention(options.logRetention)
  } catch (error) {
    if (!(error instanceof RetentionSyntaxError)) throw error
    throw new CliError('USAGE', error.message, {exit: EXIT.USAGE})
  }
  const maxRssBytes = options.maxRss ? parseSize(options.maxRss) : undefined
  if (options.maxRss && maxRssBytes === undefined) {
    throw new CliError('USAGE', `--max-rss expects a size such as 1536MB or 2GiB; got '${options.maxRss}'`, {exit: EXIT.USAGE})
  }
  return {...(logRetention ? {logRetention} : {}), shedding: {maxQueueMs: options.maxQueueMs, maxRssBytes}}
}

/** What `daemon start` prints about the decision log's chain: the key its checkpoints are signed with. */
export function chainNote(daemon: Daemon): string {
  const identity = daemon.logIdentity
  if (!identity) return 'decision log: not chained (decision_log.chain: false): schema v1, no checkpoints'
  const where = {config: `from ${identity.keyFile}`, env: `from $${SIGNING_KEY_ENV}`, state: `kept in ${identity.keyFile}`, generated: `generated now, kept in ${identity.keyFile}`, ephemeral: 'for this run only (no state directory)'}[identity.keySource]
  const shared = identity.instanceInUseBy === undefined ? '' : ` (the state directory's instance is in use by process ${identity.instanceInUseBy}: this run writes a chain of its own; give each daemon its own --state-dir)`
  return `decision log: hash-chained, instance ${identity.instanceId}${shared}; checkpoints signed with ${identity.key.publicText} (${where}); check with: cycles audit verify --log-dir <dir> --public-key ${identity.key.publicText}`
}

/** Resolve when the process is asked to stop (SIGINT/SIGTERM), after draining the daemon. */
export function drainOnSignals(daemon: Daemon, log: (line: string) => void): Promise<void> {
  return new Promise((resolve) => {
    const stop = (signal: string) => {
      log(`${signal} received: draining in-flight requests and flushing the decision log`)
      daemon.stop().then(resolve, (error) => {
        log(`shutdown error: ${(error as Error).message}`)
        resolve()
      })
    }
    process.once('SIGINT', () => stop('SIGINT'))
    process.once('SIGTERM', () => stop('SIGTERM'))
  })
}
