// One contract suite, two stores: the embedded store in memory, and the Redis store on a real
// redis-server started for this file (each test on a fresh key prefix).
import {randomUUID} from 'node:crypto'

import {afterAll, beforeAll} from 'vitest'

import {EmbeddedStore} from '../../src/store/embedded/embedded-store.js'
import {RedisStore} from '../../src/store/redis/redis-store.js'
import {type RedisServer, destroyRedis, startRedis} from '../support/redis.js'
import {describeStoreContract} from './contract.js'

let redis: RedisServer | undefined
beforeAll(async () => {
  redis = await startRedis()
})
afterAll(async () => {
  await destroyRedis(redis)
})

describeStoreContract('embedded', (options) => EmbeddedStore.open({now: options?.now}))
describeStoreContract('redis', (options) => {
  if (!redis) throw new Error('redis-server did not start (see beforeAll)')
  return RedisStore.open({url: redis.url, prefix: `t${randomUUID().slice(0, 8)}:`, now: options?.now})
})
