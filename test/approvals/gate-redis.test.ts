// The approval gate suite on a real redis-server: queuing once and one grant per reservation hold
// when the doc writes run inside the Redis transaction script.
import {afterAll, beforeAll} from 'vitest'

import {RedisStore} from '../../src/store/redis/redis-store.js'
import {newPrefix} from '../cluster/helpers.js'
import {type RedisServer, destroyRedis, startRedis} from '../support/redis.js'
import {T0, describeApprovalGate} from './gate-suite.js'

let redis: RedisServer | undefined
beforeAll(async () => {
  redis = await startRedis()
})
afterAll(async () => {
  await destroyRedis(redis)
})

describeApprovalGate('redis', () => {
  if (!redis) throw new Error('redis-server did not start (see beforeAll)')
  return RedisStore.open({url: redis.url, prefix: newPrefix(), now: () => T0})
})
