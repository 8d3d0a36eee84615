#!/usr/bin/env -S node --import tsx
// Development entry: commands from the TypeScript sources. The manifest `npm run build` writes for
// bin/run.js (a cache of the built commands) must never shadow an edited source here, and oclif's
// `ignoreManifest` load option does not reach the root plugin (oclif/core#1533): so the root plugin is
// loaded here without it, then the configured plugins (help, not-found, ...) are loaded as usual.
import {Config, Plugin, execute} from '@oclif/core'
import {fileURLToPath} from 'node:url'

const root = fileURLToPath(new URL('..', import.meta.url))
const rootPlugin = new Plugin({root, isRoot: true, ignoreManifest: true})
await rootPlugin.load()
const config = new Config({root, plugins: new Map([[rootPlugin.name, rootPlugin]])})
await config.load()
await config.loadPluginsAndCommands({force: true})
await execute({development: true, loadOptions: config})
