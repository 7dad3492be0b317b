// pds.js: run a real Bluesky PDS (@atproto/pds) and an in-memory PLC directory
// (@did-plc/server) in one Node 22 process, on 127.0.0.1 only, for tests.
//
//   node pds.js --install DIR --data DIR [--port N] [--plc-port N] [--rate-limits]
//
// --install  the install made by install.sh (holds node_modules/)
// --data     the PDS's state: sqlite files, blobs, the generated secrets and the
//            PLC operations log (so a restart on the same folder keeps the DIDs)
// --port     the PDS port (0 or absent: pick a free one)
// --plc-port the PLC directory port (0 or absent: pick a free one)
// --rate-limits  turn on the PDS's own rate limits (off unless asked for)
//
// When both servers listen it prints one line on stdout:
//   READY pds=http://localhost:P plc=http://localhost:Q pds_port=P plc_port=Q
// SIGTERM or SIGINT stop it cleanly. It never reaches past the loopback
// interface: every outbound TCP connection to another address is refused and
// logged as "pds.js: refused outbound connection to HOST".

import crypto from 'node:crypto'
import fs from 'node:fs'
import net from 'node:net'
import path from 'node:path'
import { createRequire } from 'node:module'
import { once } from 'node:events'
import { pathToFileURL } from 'node:url'
import { guardNetwork } from './netguard.js'

function parseArgs(argv) {
  const out = { port: 0, plcPort: 0, rateLimits: false }
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]
    const val = () => {
      if (i + 1 >= argv.length) die(`${a} needs a value`)
      return argv[++i]
    }
    if (a === '--install') out.install = val()
    else if (a === '--data') out.data = val()
    else if (a === '--port') out.port = Number(val())
    else if (a === '--plc-port') out.plcPort = Number(val())
    else if (a === '--rate-limits') out.rateLimits = true
    else die(`unknown argument ${a}`)
  }
  if (!out.install) die('--install DIR is required')
  if (!out.data) die('--data DIR is required')
  for (const p of [out.port, out.plcPort]) {
    if (!Number.isInteger(p) || p < 0 || p > 65535) die(`bad port ${p}`)
  }
  return out
}

function die(msg) {
  process.stderr.write(`pds.js: ${msg}\n`)
  process.exit(2)
}

// ---- helpers ----------------------------------------------------------------

async function freePort() {
  const srv = net.createServer()
  srv.listen(0, '127.0.0.1')
  await once(srv, 'listening')
  const { port } = srv.address()
  srv.close()
  await once(srv, 'close')
  return port
}

// Secrets are made once per data folder and kept there, so a restart on the
// same folder accepts the old sessions and can still sign PLC operations.
function loadSecrets(dataDir) {
  const file = path.join(dataDir, 'secrets.json')
  if (fs.existsSync(file)) return JSON.parse(fs.readFileSync(file, 'utf8'))
  const { privateKey } = crypto.generateKeyPairSync('ec', { namedCurve: 'secp256k1' })
  const d = Buffer.from(privateKey.export({ format: 'jwk' }).d, 'base64url')
  const secrets = {
    jwtSecret: crypto.randomBytes(32).toString('hex'),
    dpopSecret: crypto.randomBytes(32).toString('hex'),
    adminPassword: crypto.randomBytes(16).toString('hex'),
    plcRotationKeyHex: d.toString('hex').padStart(64, '0'),
  }
  fs.writeFileSync(file, JSON.stringify(secrets, null, 2) + '\n', { mode: 0o600 })
  return secrets
}

// The PLC mock keeps operations in memory; log each accepted one to a file and
// replay the file on start, so the DIDs survive a restart (crash tests).
async function persistentPlcDb(Database, file) {
  const db = Database.mock()
  if (fs.existsSync(file)) {
    for (const line of fs.readFileSync(file, 'utf8').split('\n')) {
      if (line.trim() === '') continue
      let entry
      try {
        entry = JSON.parse(line)
      } catch {
        break // a line torn by a kill: everything before it was acknowledged
      }
      await db.validateAndAddOp(entry.did, entry.operation)
    }
  }
  const add = db.validateAndAddOp.bind(db)
  db.validateAndAddOp = async (did, operation) => {
    await add(did, operation)
    fs.appendFileSync(file, JSON.stringify({ did, operation }) + '\n')
  }
  return db
}

async function listen(app, port) {
  const server = app.listen(port, '127.0.0.1')
  await Promise.race([
    once(server, 'listening'),
    once(server, 'error').then(([err]) => {
      throw err
    }),
  ])
  return server
}

// ---- main -------------------------------------------------------------------

async function main() {
  const t0 = performance.now()
  const ms = () => `${Math.round(performance.now() - t0)} ms`
  const args = parseArgs(process.argv.slice(2))
  guardNetwork()

  const dataDir = path.resolve(args.data)
  const blobDir = path.join(dataDir, 'blobs')
  fs.mkdirSync(blobDir, { recursive: true, mode: 0o700 })
  const secrets = loadSecrets(dataDir)

  const require = createRequire(path.join(path.resolve(args.install), 'package.json'))
  const { PlcServer, Database } = require('@did-plc/server')
  const { PDS, envToCfg, envToSecrets, readEnv } = await import(
    pathToFileURL(require.resolve('@atproto/pds')).href
  )
  process.stderr.write(`pds.js: modules loaded after ${ms()}\n`)

  // PLC directory, in memory (+ the operations log).
  const plcPort = args.plcPort || (await freePort())
  const plcDb = await persistentPlcDb(Database, path.join(dataDir, 'plc-ops.jsonl'))
  const plc = PlcServer.create({ db: plcDb, port: plcPort })
  const plcServer = await listen(plc.app, plcPort)

  // The PDS reads its settings from the environment only: clear every PDS_*
  // variable the caller may have (an appview, crawlers, S3 ...) and set ours.
  for (const k of Object.keys(process.env)) if (k.startsWith('PDS_')) delete process.env[k]
  const port = args.port || (await freePort())
  Object.assign(process.env, {
    PDS_HOSTNAME: 'localhost',
    PDS_PORT: String(port),
    PDS_DATA_DIRECTORY: dataDir,
    PDS_BLOBSTORE_DISK_LOCATION: blobDir,
    PDS_JWT_SECRET: secrets.jwtSecret,
    PDS_DPOP_SECRET: secrets.dpopSecret,
    PDS_ADMIN_PASSWORD: secrets.adminPassword,
    PDS_PLC_ROTATION_KEY_K256_PRIVATE_KEY_HEX: secrets.plcRotationKeyHex,
    PDS_DEV_MODE: 'true',
    PDS_INVITE_REQUIRED: 'false',
    // localhost, not 127.0.0.1: the identity resolver refuses IP hosts.
    PDS_DID_PLC_URL: `http://localhost:${plcPort}`,
    // No appview, no relay to ask for crawls, no moderation/report service:
    // left unset, each of these is off (envToCfg: bskyAppView null, crawlers []).
    PDS_RATE_LIMITS_ENABLED: args.rateLimits ? 'true' : 'false',
  })
  const cfg = envToCfg(readEnv())
  if (cfg.bskyAppView || cfg.crawlers.length || cfg.modService || cfg.reportService) {
    die('the PDS config reaches out to another service; refusing to start')
  }
  const pds = await PDS.create(cfg, envToSecrets(readEnv()))
  process.stderr.write(`pds.js: PLC on ${plcPort}, PDS created after ${ms()}\n`)

  // What PDS.start() does, but on 127.0.0.1 instead of every interface.
  // (app.listen is wrapped by xrpc-server to also serve websocket upgrades.)
  await pds.ctx.sequencer.start()
  const server = await listen(pds.app, port)
  server.keepAliveTimeout = 90_000
  pds.server = server
  const { createHttpTerminator } = createRequire(require.resolve('@atproto/pds'))('http-terminator')
  pds.terminator = createHttpTerminator({ server })

  process.stderr.write(`pds.js: listening after ${ms()}\n`)
  process.stdout.write(
    `READY pds=http://localhost:${port} plc=http://localhost:${plcPort} pds_port=${port} plc_port=${plcPort}\n`,
  )

  let stopping = false
  const stop = async (sig) => {
    if (stopping) return
    stopping = true
    process.stderr.write(`pds.js: ${sig}: stopping\n`)
    try {
      await pds.destroy()
      await new Promise((resolve) => plcServer.close(resolve))
    } finally {
      process.exit(0)
    }
  }
  process.on('SIGTERM', () => stop('SIGTERM'))
  process.on('SIGINT', () => stop('SIGINT'))
}

main().catch((err) => {
  process.stderr.write(`pds.js: ${err?.stack ?? err}\n`)
  process.exit(1)
})
