// Composition of the daemon: store, seed, tier control, runtime service, the runtime plane on
// node:http, the decision log, the expiry sweep, health, status, and a clean drain on shutdown.

import type {CyclesConfig} from '../config/schema.js'
import {sha256Hex} from '../protocol/canonical-json.js'
import {adminKeyMatcher, publicKeyPrefix} from '../admin/auth.js'
import {DenialRing} from '../admin/overview.js'
import {type AdminPlane, createAdminPlane} from '../admin/plane.js'
import {DEFAULT_PERMISSIONS} from '../admin/requests.js'
import {DecisionLogWriter, type DecisionSink} from '../decision-log/writer.js'
import {TierClassifier} from '../evaluator/tiers.js'
import type {Book, Ledger} from '../protocol/types.js'
import {EmbeddedStore} from '../store/embedded/embedded-store.js'
import type {Store, TierControl, Tx} from '../store/types.js'
import {DaemonCounters} from './counters.js'
import {JsonServer} from './http/json-server.js'
import {decisionRecordFor, registerRuntimeRoutes} from './runtime-plane.js'
import {RuntimeService} from './runtime-service.js'

export const DAEMON_VERSION = '0.1.0'

export interface DaemonOptions {
  config: CyclesConfig
  host?: string
  port?: number
  logDir: string
  /** Embedded store directory (ignored when `store` is given). */
  stateDir?: string
  /** An already-open store (e.g. Redis); default: the embedded store under stateDir. */
  store?: Store
  now?: () => number
  log?: (line: string) => void
  sweepIntervalMs?: number
  fsyncIntervalMs?: number
  maxInFlight?: number
  /** Admin plane port (0 = free port); the plane runs only with an admin key. Default 7979. */
  adminPort?: number
  /** Admin key; default: config `admin_key`. Without one the admin plane stays off. */
  adminKey?: string
  /** Admin-plane failed-authentication limit and aggregation window (default 300 per source per 60 s). */
  adminAuthFailures?: {maxFailures?: number; windowMs?: number; maxSources?: number}
}

export class Daemon {
  url = ''
  /** The admin plane's base URL; empty when it is off (no admin key). */
  adminUrl = ''
  admin: JsonServer | undefined
  /** The admin plane's handlers (undefined when it is off). */
  adminPlane: AdminPlane | undefined
  ready = false
  private sweepTimer: NodeJS.Timeout | undefined
  private stopping: Promise<void> | undefined

  private constructor(
    readonly store: Store,
    readonly service: RuntimeService,
    readonly runtime: JsonServer,
    readonly decisions: DecisionSink & {currentPath?: string; recordsWritten?: number},
    readonly counters: DaemonCounters,
    private readonly controlRef: {current: TierControl},
    private readonly options: DaemonOptions,
  ) {}

  get control(): TierControl {
    return this.controlRef.current
  }

  static async start(options: DaemonOptions): Promise<Daemon> {
    const now = options.now ?? Date.now
    const store = options.store ?? (await EmbeddedStore.open({stateDir: options.stateDir, now, fsyncIntervalMs: options.fsyncIntervalMs}))
    try {
      await seedFromConfig(store, options.config, now())
      const controlRef = {current: (await store.getControl()) ?? controlFromConfig(options.config)}
      store.onControlChange((c) => {
        if (c.version >= controlRef.current.version) controlRef.current = c
      })
      const service = new RuntimeService({
        store,
        classifier: new TierClassifier(options.config.tiers),
        control: () => controlRef.current,
        onStoreError: (tier) => options.config.tiers[tier].on_store_error ?? 'deny',
        now,
      })
      const counters = new DaemonCounters(now())
      const denials = new DenialRing()
      const decisions = new DecisionLogWriter({dir: options.logDir, fsyncIntervalMs: options.fsyncIntervalMs, now})
      let daemon: Daemon | undefined
      const runtime = new JsonServer({
        maxInFlight: options.maxInFlight,
        onError: (error) => options.log?.(`internal error: ${(error as Error).stack ?? String(error)}`),
        beforeSend: async (req, res) => {
          counters.requests++
          if (res.status >= 500) counters.errors5xx++
          const record = decisionRecordFor(req, res, now())
          if (record) {
            decisions.write(record)
            counters.observe(record)
            if (record.decision === 'DENY' && DENIAL_REASONS.has(record.reason_code ?? '')) {
              denials.push({
                ts_ms: now(),
                tenant: record.tenant,
                scope: record.denied_scope ?? record.scope_path,
                unit: record.unit,
                reason_code: record.reason_code,
                estimate: record.estimate,
                action: record.action,
                subject: record.subject as Record<string, unknown> | undefined,
                request_id: record.request_id,
                trace_id: record.trace_id,
              })
            }
          }
          // Group commit: the response leaves only after its journal line and decision are written.
          await store.flushed()
          await decisions.flushed()
        },
      })
      const adminKey = options.adminKey ?? options.config.admin_key
      const adminKeyMatches = adminKey ? adminKeyMatcher(adminKey) : undefined
      registerRuntimeRoutes(runtime, {service, store, counters, now, adminKeyMatches})
      runtime.route('GET', '/actuator/health/liveness', async () => ({status: 200, body: '{"status":"UP"}'}))
      runtime.route('GET', '/actuator/health/readiness', async () => {
        const health = await store.health()
        const up = Boolean(daemon?.ready) && health.ok
        return {status: up ? 200 : 503, body: JSON.stringify({status: up ? 'UP' : 'DOWN', ...(health.detail ? {detail: health.detail} : {})})}
      })
      runtime.route('GET', '/actuator/cycles/status', async () => ({status: 200, body: JSON.stringify(daemon!.status())}))

      daemon = new Daemon(store, service, runtime, decisions, counters, controlRef, options)
      daemon.url = await runtime.listen(options.port ?? 7878, options.host ?? '127.0.0.1')
      if (adminKeyMatches) {
        // The admin plane: same store, its own port; never started without a key.
        const plane = createAdminPlane({
          store, now, adminKeyMatches, recentDenials: () => denials.snapshot(), maxInFlight: options.maxInFlight, log: options.log,
          authFailures: options.adminAuthFailures,
          control: () => controlRef.current,
          onControl: (c) => {
            if (c.version >= controlRef.current.version) controlRef.current = c
          },
        })
        daemon.admin = plane.server
        daemon.adminPlane = plane
        try {
          daemon.adminUrl = await plane.server.listen(options.adminPort ?? 7979, options.host ?? '127.0.0.1')
        } catch (error) {
          await runtime.close()
          throw error
        }
      }
      daemon.sweepTimer = setInterval(() => {
        service.expireDue().catch((error) => options.log?.(`expiry sweep failed: ${(error as Error).message}`))
      }, options.sweepIntervalMs ?? 1000)
      daemon.sweepTimer.unref()
      daemon.ready = true
      return daemon
    } catch (error) {
      await store.close().catch(() => {})
      throw error
    }
  }

  status() {
    const c = this.counters
    return {
      status: this.ready ? 'UP' : 'DOWN',
      version: DAEMON_VERSION,
      store: this.store.kind,
      uptime_s: Math.round(((this.options.now ?? Date.now)() - c.startedAtMs) / 1000),
      requests: c.requests,
      decisions: c.decisions,
      would_denials: c.wouldDenials,
      by_endpoint: c.byEndpoint,
      errors_5xx: c.errors5xx,
      shed: this.runtime.shed,
      tiers: this.control.tiers,
      killswitch: this.control.killswitch,
      decision_log: this.decisions.currentPath,
    }
  }

  /** Drain in-flight requests, flush the decision log and the store, release everything. */
  stop(): Promise<void> {
    this.stopping ??= (async () => {
      this.ready = false
      if (this.sweepTimer) clearInterval(this.sweepTimer)
      await Promise.all([this.runtime.close(), this.admin?.close()])
      await this.adminPlane?.close().catch((error) => this.options.log?.(`admin plane close: ${(error as Error).message}`))
      this.decisions.close()
      await this.store.close()
    })()
    return this.stopping
  }
}

/** Decision-record reasons that count as budget denials for the admin overview. */
const DENIAL_REASONS = new Set(['BUDGET_EXCEEDED', 'BUDGET_FROZEN', 'BUDGET_CLOSED', 'OVERDRAFT_LIMIT_EXCEEDED', 'DEBT_OUTSTANDING', 'TENANT_CLOSED', 'BUDGET_NOT_FOUND', 'NOT_FOUND'])

export function controlFromConfig(config: CyclesConfig): TierControl {
  return {
    tiers: {low: config.tiers.low.mode, medium: config.tiers.medium.mode, high: config.tiers.high.mode},
    killswitch: {engaged: false},
    version: 0,
  }
}

/** Key ids for config keys are derived from the secret hash, so restarts keep the same id. */
export function configKeyId(hash: string): string {
  return `key_${hash.slice(0, 16)}`
}

/**
 * Seed tenants, keys, budgets (in both books) and tier modes from the config. Create-if-absent:
 * state changed at run time (spend, funding, freezes, mode changes) survives a restart.
 */
export async function seedFromConfig(store: Store, config: CyclesConfig, nowMs: number): Promise<void> {
  const tx: Tx = {tenants: [], apiKeys: [], createLedgers: []}
  for (const t of config.tenants) {
    if (await store.getTenant(t.id)) continue
    const {id, ...rest} = t
    tx.tenants!.push({tenant_id: id, ...rest, created_at_ms: nowMs})
  }
  for (const k of config.api_keys) {
    const hash = k.secret_sha256 ?? sha256Hex(k.secret!)
    const keyId = k.key_id ?? configKeyId(hash)
    const existing = await store.getApiKey(keyId)
    if (existing) continue // may have been revoked at run time; never resurrect it
    tx.apiKeys!.push({
      key_id: keyId,
      tenant_id: k.tenant,
      key_hash: hash,
      key_prefix: k.secret ? publicKeyPrefix(k.secret) : '',
      name: k.name ?? 'from config',
      status: 'ACTIVE',
      permissions: k.permissions ?? [...DEFAULT_PERMISSIONS],
      ...(k.scope_filter?.length ? {scope_filter: k.scope_filter} : {}),
      created_at_ms: nowMs,
    })
  }
  for (const b of config.budgets) {
    for (const book of ['real', 'shadow'] as Book[]) {
      const [existing] = await store.getLedgers(book, [b.scope], b.unit)
      if (existing) continue
      const ledger: Ledger & {book: Book} = {
        book,
        scope: b.scope,
        unit: b.unit,
        allocated: b.allocated,
        remaining: b.allocated,
        reserved: 0,
        spent: 0,
        debt: 0,
        overdraft_limit: b.overdraft_limit,
        is_over_limit: false,
        status: b.status,
        ...(b.caps ? {caps: b.caps} : {}),
        ...(b.commit_overage_policy ? {commit_overage_policy: b.commit_overage_policy} : {}),
        created_at_ms: nowMs,
        updated_at_ms: nowMs,
      }
      tx.createLedgers!.push(ledger)
    }
  }
  if (!(await store.getControl())) tx.control = controlFromConfig(config)
  const result = await store.apply(tx)
  if (!result.ok) throw new Error(`seeding state from config failed: ${result.failed} ${result.detail ?? ''}`)
  await store.flushed()
}
