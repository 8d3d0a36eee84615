// Composition of the daemon: store, seed, tier control, runtime service, the runtime plane on
// node:http, the decision log, the expiry sweep, health, status, and a clean drain on shutdown.

import type {CyclesConfig} from '../config/schema.js'
import type {ApprovalGate} from '../policies/approval.js'
import {approvalGate} from '../approvals/gate.js'
import {adminKeyMatcher} from '../admin/auth.js'
import {DenialRing} from '../admin/overview.js'
import {type AdminPlane, createAdminPlane} from '../admin/plane.js'
import {guardStateOf} from '../admin/rollout-routes.js'
import type {RetentionPolicy} from '../decision-log/retention.js'
import {DecisionLogWriter} from '../decision-log/writer.js'
import {AuditHeadSigner} from '../integrity/audit-signed-head.js'
import {type LogIdentity, loadLogIdentity} from '../integrity/log-identity.js'
import {WriteFailedError, type WriteFailure} from '../io/group-commit-writer.js'
import {TierClassifier} from '../evaluator/tiers.js'
import {TIERS} from '../protocol/types.js'
import {EmbeddedStore} from '../store/embedded/embedded-store.js'
import {isStoreUnavailable} from '../store/errors.js'
import type {Store, TierControl} from '../store/types.js'
import {controlChangeLine} from './control-log.js'
import {DaemonCounters} from './counters.js'
import {JsonServer, type SheddingOptions} from './http/json-server.js'
import {controlFromConfig, seedFromConfig} from './config-seed.js'
import {needsDurableWrite, stateUnwritable, stateWriteFailure} from './durable-writes.js'
import {decisionLogStatus} from './log-status.js'
import {decisionRecordFor, registerRuntimeRoutes} from './runtime-plane.js'
import {RuntimeService} from './runtime-service.js'
import {GuardRunner} from './guard-runner.js'
import {PeriodRunner} from './period-runner.js'
import {DaemonMetrics} from './metrics.js'
import {TierStats} from './tier-stats.js'
import {DaemonEvents} from '../events/daemon-events.js'
import {tenantEvents} from '../events/routes.js'
import {AdminCore} from '../admin/context.js'
import {WebhookDispatcher} from '../webhooks/dispatcher.js'
import {registerTenantWebhookRoutes, webhookApi} from '../webhooks/routes.js'
import {SecretBox, secretKeyFromEnv} from '../webhooks/secrets.js'
import type {HostLookup} from '../webhooks/security.js'

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
  /** Decision-log retention (`--log-retention`); default: keep everything. */
  logRetention?: RetentionPolicy
  /** Queueing-time and memory bounds of the runtime plane (`--max-queue-ms`, `--max-rss`). */
  shedding?: SheddingOptions
  /** How often the decision log tries a failed disk again (default 1000 ms). */
  logRetryIntervalMs?: number
  /** Admin-plane failed-authentication limit and aggregation window (default 300 per source per 60 s). */
  adminAuthFailures?: {maxFailures?: number; windowMs?: number; maxSources?: number}
  /** Webhook secrets' AES-256 key; default: CYCLES_WEBHOOK_SECRET_KEY (unset: webhooks cannot be created). */
  webhookSecretKey?: Buffer
  /** Webhook dispatcher knobs (tests: a short send timeout, no settle delay, manual ticks). */
  webhooks?: {settleMs?: number; sendTimeoutMs?: number; pollMs?: number; leaseMs?: number; instanceId?: string; lookup?: HostLookup; manual?: boolean}
  /** The approval gate policies consult; default src/approvals/gate.ts (approval requests in the store). */
  approvalGate?: ApprovalGate
  /** How often the period runner looks for a periodic budget's boundary (default 1000 ms). */
  periodIntervalMs?: number
  /** PEM of the decision log's checkpoint signing key ($CYCLES_LOG_SIGNING_KEY); config `decision_log.signing_key_file` wins. */
  logSigningKeyPem?: string
}

/** Most reservations one expiry batch releases; a tick runs as many batches as are due. */
const EXPIRY_BATCH = 1000
/** Upper bound of batches per tick, so a sweep always ends (1,000 × 1,000 reservations). */
const MAX_EXPIRY_BATCHES = 1000

export class Daemon {
  url = ''
  /** The admin plane's base URL; empty when it is off (no admin key). */
  adminUrl = ''
  admin: JsonServer | undefined
  /** The admin plane's handlers (undefined when it is off). */
  adminPlane: AdminPlane | undefined
  ready = false
  /** Per-tier live figures of this instance (rollout status, tier set preview, guard baselines). */
  tierStats!: TierStats
  /** The auto-rollback guard. */
  guard!: GuardRunner
  /** The event writer, the ledger watch and the decision-record feed (src/events). */
  events!: DaemonEvents
  /** Delivers the `events` collection to webhook subscriptions. */
  webhooks!: WebhookDispatcher
  /** Resets periodic budgets at their boundaries (exactly once across instances). */
  periods!: PeriodRunner
  /** The decision-log chain's instance and checkpoint key (undefined when `decision_log.chain` is false). */
  logIdentity: LogIdentity | undefined
  /** Signs the audit chain's head with the log key every checkpoint interval (undefined with the chain off). */
  auditSigner: AuditHeadSigner | undefined
  private sweepTimer: NodeJS.Timeout | undefined
  private sweeping = false
  private stopping: Promise<void> | undefined

  private constructor(
    readonly store: Store,
    readonly service: RuntimeService,
    readonly runtime: JsonServer,
    readonly decisions: DecisionLogWriter,
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
    let logIdentity: LogIdentity | undefined
    try {
      await seedFromConfig(store, options.config, now())
      const events = await DaemonEvents.start({store, config: options.config.events, now, log: options.log})
      // What the planes write through: the real book's post-states reach the ledger watch.
      const planeStore = events.observe(store)
      const controlRef = {current: (await store.getControl()) ?? controlFromConfig(options.config)}
      const tierStats = new TierStats(now())
      // The one place a newer control record is applied in this process (pub/sub, the admin plane, the guard).
      const applyControl = (c: TierControl): void => {
        if (c.version < controlRef.current.version) return
        const before = controlRef.current
        controlRef.current = c
        const line = controlChangeLine(before, c)
        if (line) options.log?.(line)
        guard.onControl(before, c)
      }
      const guard: GuardRunner = new GuardRunner({
        store,
        config: options.config.rollout.guard,
        stats: tierStats,
        control: () => controlRef.current,
        applyControl,
        frozenByConfig: new Set(options.config.budgets.filter((b) => b.status === 'FROZEN').map((b) => `${b.scope}|${b.unit}`)),
        now,
        log: options.log,
        events: events.sink,
      })
      store.onControlChange(applyControl)
      const service = new RuntimeService({
        store: planeStore,
        onExpired: (r) => events.runtime.expired(r),
        approvalGate: options.approvalGate ?? ((gateStore, ask) => approvalGate(gateStore, ask)), // src/approvals/gate.ts: fails closed
        classifier: new TierClassifier(options.config.tiers),
        control: () => controlRef.current,
        onStoreError: (tier) => options.config.tiers[tier].on_store_error ?? 'deny',
        now,
      })
      const counters = new DaemonCounters(now())
      const denials = new DenialRing()
      const chainConfig = options.config.decision_log
      logIdentity = chainConfig.chain
        ? loadLogIdentity({stateDir: options.stateDir, keyPem: options.logSigningKeyPem, keyFile: chainConfig.signing_key_file})
        : undefined
      const decisions = new DecisionLogWriter({
        dir: options.logDir,
        ...(logIdentity ? {instanceId: logIdentity.instanceId, chain: {key: logIdentity.key, checkpointIntervalMs: chainConfig.checkpoint_interval_s * 1000}} : {}),
        fsyncIntervalMs: options.fsyncIntervalMs,
        now,
        retention: options.logRetention,
        retryIntervalMs: options.logRetryIntervalMs,
        log: options.log,
      })
      let daemon: Daemon | undefined
      const metrics = new DaemonMetrics({
        storeUp: async () => (await store.health()).ok,
        control: () => controlRef.current,
        journalUnwrittenBytes: () => (store instanceof EmbeddedStore ? store.journalBacklogBytes : 0),
        decisionLog: () => decisions.health(),
        shed: () => runtime.shedByReason,
        inFlight: () => runtime.inFlightCount,
      })
      const runtime = new JsonServer({
        maxInFlight: options.maxInFlight,
        shedding: options.shedding,
        onError: (error) => options.log?.(`internal error: ${(error as Error).stack ?? String(error)}`),
        // While the state journal cannot be written, a request that would change state is refused
        // before it touches anything; reads, dry-runs and decides go on from memory.
        admit: (req) => {
          const failure = stateWriteFailure(store)
          if (failure && needsDurableWrite(req)) throw stateUnwritable(failure)
        },
        beforeSend: async (req, res) => {
          // Health and status probes (`cycles daemon status`, load balancers) are not the traffic it reports.
          if (!req.path.startsWith('/actuator/')) counters.requests++
          if (res.status >= 500) counters.errors5xx++
          const record = decisionRecordFor(req, res, now())
          events.onRuntimeResponse(req.path, res.status, record)
          if (record) {
            decisions.write(record)
            counters.observe(record)
            metrics.observe(record)
            const at = now()
            denials.observe(record, at)
            tierStats.observe(record, at)
            guard.observe(record, at)
          }
          // Group commit: the response leaves only after its journal line and decision are written.
          // Only a change the client is told happened must be on disk; a dry-run, decide or read is
          // answered from memory when the state disk is full (the decision log never blocks).
          try {
            await store.flushed()
          } catch (error) {
            if (!(error instanceof WriteFailedError) || needsDurableWrite(req)) throw error instanceof WriteFailedError ? stateUnwritable(error.failure) : error
          }
          await decisions.flushed()
        },
      })
      const adminKey = options.adminKey ?? options.config.admin_key
      const adminKeyMatches = adminKey ? adminKeyMatcher(adminKey) : undefined
      registerRuntimeRoutes(runtime, {
        service, store, counters, now, adminKeyMatches,
        onAuthFailure: (req, reason, key) => events.runtime.authFailed({request_id: req.request_id, trace_id: req.trace_id, ...(req.remote_address ? {source_ip: req.remote_address} : {})}, reason, key),
        tenantEvents: (ctx, query) => tenantEvents(store, ctx.tenant, ctx.scopeFilter, query),
      })
      const webhookKey = options.webhookSecretKey ?? secretKeyFromEnv()
      if (!webhookKey && adminKeyMatches) options.log?.('webhooks: CYCLES_WEBHOOK_SECRET_KEY is not set, so webhook subscriptions cannot be created (set it to openssl rand -hex 32, the same on every instance)')
      const webhookOptions = {secrets: new SecretBox(webhookKey), lookup: options.webhooks?.lookup, sendTimeoutMs: options.webhooks?.sendTimeoutMs}
      registerTenantWebhookRoutes(runtime, {api: webhookApi(new AdminCore({store, now}), webhookOptions), store, now, adminKeyMatches})
      runtime.route('GET', '/actuator/health/liveness', async () => ({status: 200, body: '{"status":"UP"}'}))
      runtime.route('GET', '/actuator/health/readiness', async () => {
        const health = await store.health()
        const up = Boolean(daemon?.ready) && health.ok
        return {status: up ? 200 : 503, body: JSON.stringify({status: up ? 'UP' : 'DOWN', ...(health.detail ? {detail: health.detail} : {})})}
      })
      runtime.route('GET', '/actuator/cycles/status', async () => ({status: 200, body: JSON.stringify(daemon!.status())}))

      daemon = new Daemon(store, service, runtime, decisions, counters, controlRef, options)
      daemon.tierStats = tierStats
      daemon.guard = guard
      daemon.events = events
      daemon.logIdentity = logIdentity
      daemon.url = await runtime.listen(options.port ?? 7878, options.host ?? '127.0.0.1')
      if (adminKeyMatches) {
        // The admin plane: same store, its own port; never started without a key.
        const plane = createAdminPlane({
          store: planeStore, now, events: events.sink, adminKeyMatches, recentDenials: () => denials.snapshot(), maxInFlight: options.maxInFlight, log: options.log,
          authFailures: options.adminAuthFailures,
          webhooks: webhookOptions,
          control: () => controlRef.current,
          onControl: applyControl,
          metrics: () => metrics.scrape(),
          rollout: {
            guardConfig: options.config.rollout.guard,
            stats: (tier, sinceMs, nowMs) => tierStats.query(tier, sinceMs, nowMs),
            guardWindow: (tier) => guard.window(tier),
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
      let reportedFailure: WriteFailure | undefined
      daemon.sweepTimer = setInterval(() => {
        // The sweep reaches the store every tick: it also says when the store goes away and comes back.
        daemon!.sweepExpired().then(
          () => events.runtime.storeReachable(true),
          (error) => {
            if (isStoreUnavailable(error)) events.runtime.storeReachable(false, (error as Error).message)
            options.log?.(`expiry sweep failed: ${(error as Error).message}`)
          },
        )
        // Say once when the state disk fails and once when it works again.
        const failure = stateWriteFailure(store)
        if (failure && !reportedFailure) options.log?.(`state journal: ${failure.message}; changes are refused with 503 until it can be written`)
        if (!failure && reportedFailure) options.log?.('state journal: writing again; changes are accepted')
        reportedFailure = failure
      }, options.sweepIntervalMs ?? 1000)
      daemon.sweepTimer.unref()
      guard.start()
      daemon.webhooks = new WebhookDispatcher({store, secrets: webhookOptions.secrets, now, log: options.log, ...options.webhooks})
      if (!options.webhooks?.manual) daemon.webhooks.start()
      daemon.periods = new PeriodRunner({store, now, intervalMs: options.periodIntervalMs, instance: daemon.url, log: options.log})
      daemon.periods.start()
      if (logIdentity) {
        daemon.auditSigner = new AuditHeadSigner({store, key: logIdentity.key, instance: logIdentity.instanceId, now, intervalMs: chainConfig.checkpoint_interval_s * 1000, log: options.log})
        await daemon.auditSigner.start()
      }
      daemon.ready = true
      return daemon
    } catch (error) {
      logIdentity?.release()
      await store.close().catch(() => {})
      throw error
    }
  }

  /**
   * Expire everything that is due, in batches of EXPIRY_BATCH with a turn of the event loop between
   * them (requests keep being served), so a backlog of abandoned reservations is released in one
   * tick instead of a thousand per tick. One sweep at a time.
   */
  async sweepExpired(): Promise<{expired: number; batches: number}> {
    if (this.sweeping) return {expired: 0, batches: 0}
    this.sweeping = true
    try {
      let expired = 0
      let batches = 0
      while (batches < MAX_EXPIRY_BATCHES) {
        const n = await this.service.expireDue(EXPIRY_BATCH)
        batches++
        expired += n
        if (n < EXPIRY_BATCH || this.stopping) break
        await new Promise((resolve) => setImmediate(resolve))
      }
      return {expired, batches}
    } finally {
      this.sweeping = false
    }
  }

  status() {
    const c = this.counters
    const stateFailure = stateWriteFailure(this.store)
    const journal = this.store instanceof EmbeddedStore ? this.store : undefined
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
      shed_by_reason: this.runtime.shedByReason,
      storage: {
        state: {
          writable: stateFailure === undefined,
          ...(stateFailure ? {error: stateFailure.errno, message: stateFailure.message, since: new Date(stateFailure.sinceMs).toISOString()} : {}),
          ...(journal ? {unwritten_bytes: journal.journalBacklogBytes, lines_dropped: journal.journalLinesDropped} : {}),
        },
        decision_log: decisionLogStatus(this.decisions),
      },
      tiers: this.control.tiers,
      killswitch: this.control.killswitch,
      /** The auto-rollback guard per tier: armed (watching an enforced tier), tripped (sent it back to shadow), idle. */
      guard: Object.fromEntries(TIERS.map((t) => [t, guardStateOf(this.control, t, this.options.config.rollout.guard.enabled)])),
      decision_log: this.decisions.currentPath,
      /** The event writer: emitted, written, dropped (buffer full while the store was down), waiting. */
      events: this.events?.writer ? {...this.events.writer.stats} : {enabled: false},
    }
  }

  /** Drain in-flight requests, flush the decision log and the store, release everything. */
  stop(): Promise<void> {
    this.stopping ??= (async () => {
      this.ready = false
      if (this.sweepTimer) clearInterval(this.sweepTimer)
      await this.guard?.stop()
      await this.periods?.stop()
      await Promise.all([this.runtime.close(), this.admin?.close(), this.webhooks?.stop()])
      await this.adminPlane?.close().catch((error) => this.options.log?.(`admin plane close: ${(error as Error).message}`))
      await this.auditSigner?.stop() // after the admin plane: its last changes are signed too
      this.decisions.close()
      await this.events?.close()
      this.logIdentity?.release()
      await this.store.close()
    })()
    return this.stopping
  }
}
