// The overview's webhook part (admin spec AdminOverviewResponse): counts by status and the
// subscriptions failing now, most consecutive failures first.
import type {Store} from '../store/types.js'
import {type SubscriptionDoc, WEBHOOKS_COLLECTION} from './model.js'

export async function webhookOverview(store: Store): Promise<{
  webhook_counts: {total: number; active: number; disabled: number; with_failures: number}
  failing_webhooks: Array<{subscription_id: string; url: string; consecutive_failures: number; last_failure_at?: string}>
}> {
  const subs: SubscriptionDoc[] = []
  let after: string | undefined
  for (;;) {
    const page = await store.listDocs(WEBHOOKS_COLLECTION, {after, limit: 1000})
    subs.push(...page.map((d) => d.value as unknown as SubscriptionDoc))
    if (page.length < 1000) break
    after = page[page.length - 1].id
  }
  // Failing: failed deliveries in a row, or disabled for them.
  const failing = subs.filter((s) => s.consecutive_failures > 0).sort((a, b) => b.consecutive_failures - a.consecutive_failures || (b.last_failure_at_ms ?? 0) - (a.last_failure_at_ms ?? 0))
  return {
    webhook_counts: {
      total: subs.length,
      active: subs.filter((s) => s.status === 'ACTIVE').length,
      disabled: subs.filter((s) => s.status === 'DISABLED').length,
      with_failures: failing.length,
    },
    failing_webhooks: failing.slice(0, 10).map((s) => ({
      subscription_id: s.subscription_id,
      url: s.url,
      consecutive_failures: s.consecutive_failures,
      ...(s.last_failure_at_ms !== undefined ? {last_failure_at: new Date(s.last_failure_at_ms).toISOString()} : {}),
    })),
  }
}
