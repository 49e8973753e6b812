// SPDX-License-Identifier: Apache-2.0
// Downloads a torrent with WebTorrent, an independent BitTorrent implementation,
// from its magnet alone: the seeder is found through a private DHT on loopback.
//
//   node fetch.mjs MAGNET OUTDIR BOOTSTRAP_PORT [TIMEOUT_S]
//
// The files land in OUTDIR/<torrent name>/ (WebTorrent also writes BEP 47 pad files
// under .pad/). Exits 0 once every piece is downloaded and verified, 2 on timeout,
// 1 on any other error. Prints one JSON line of timings on success.
//
// Nothing leaves loopback: trackers, LSD, UPnP, NAT-PMP, web seeds and PEX are off,
// the DHT bootstraps only from 127.0.0.1:BOOTSTRAP_PORT, every socket binds to
// 127.0.0.1, and any send or connect to another address is refused (see guardLoopback).
import dgram from 'node:dgram'
import net from 'node:net'

const USAGE = 'usage: node fetch.mjs MAGNET OUTDIR BOOTSTRAP_PORT [TIMEOUT_S]'

function fail (code, message) {
  process.stderr.write(`fetch.mjs: ${message}\n`)
  process.exit(code)
}

const [magnet, outDir, portArg, timeoutArg = '60'] = process.argv.slice(2)
if (!magnet || !outDir || !portArg) fail(1, USAGE)
const bootstrapPort = Number(portArg)
const timeoutS = Number(timeoutArg)
if (!Number.isInteger(bootstrapPort) || bootstrapPort <= 0 || bootstrapPort > 65535) {
  fail(1, `bad BOOTSTRAP_PORT ${portArg}\n${USAGE}`)
}
if (!(timeoutS > 0)) fail(1, `bad TIMEOUT_S ${timeoutArg}\n${USAGE}`)

// "From the magnet alone": a magnet that names trackers, peers or web seeds would
// prove nothing about the DHT, so it is refused rather than quietly trimmed.
if (!magnet.startsWith('magnet:?')) fail(1, `not a magnet URI: ${magnet}`)
for (const [key] of new URLSearchParams(magnet.slice('magnet:?'.length))) {
  if (!['xt', 'dn', 'xl'].includes(key)) {
    fail(1, `the magnet carries '${key}=': only xt/dn/xl are allowed (no trackers or peer hints)`)
  }
}

const LOOPBACK = '127.0.0.1'
const isLoopback = host => typeof host === 'string' &&
  (/^127\.\d+\.\d+\.\d+$/.test(host) || host === '::1' || host === 'localhost' ||
   /^::ffff:127\.\d+\.\d+\.\d+$/.test(host))

// Belt and braces under the network namespace the test runs in: bind to loopback,
// refuse to talk to anything else.
function guardLoopback () {
  const refuse = what => { throw new Error(`fetch.mjs refuses ${what}: not loopback`) }

  const send = dgram.Socket.prototype.send
  dgram.Socket.prototype.send = function (msg, ...rest) {
    // send(msg[, offset, length], port[, address][, callback])
    const address = rest.find(a => typeof a === 'string')
    if (!isLoopback(address)) refuse(`a UDP send to ${address}`)
    return send.call(this, msg, ...rest)
  }
  const bind = dgram.Socket.prototype.bind
  dgram.Socket.prototype.bind = function (...args) {
    if (args.length && typeof args[0] === 'object' && args[0] !== null) {
      return bind.call(this, { ...args[0], address: LOOPBACK }, ...args.slice(1))
    }
    // bind([port][, address][, callback])
    const port = typeof args[0] === 'number' ? args[0] : 0
    const cb = args.find(a => typeof a === 'function')
    return cb ? bind.call(this, port, LOOPBACK, cb) : bind.call(this, port, LOOPBACK)
  }

  const connect = net.Socket.prototype.connect
  net.Socket.prototype.connect = function (...args) {
    const opts = args[0]
    let host
    if (Array.isArray(opts)) host = opts[0]?.host // Internal normalized form.
    else if (typeof opts === 'object' && opts !== null) host = opts.path ? LOOPBACK : opts.host
    else host = typeof args[1] === 'string' ? args[1] : 'localhost'
    if (!isLoopback(host ?? 'localhost')) refuse(`a TCP connection to ${host}`)
    return connect.apply(this, args)
  }
  const listen = net.Server.prototype.listen
  net.Server.prototype.listen = function (...args) {
    if (typeof args[0] === 'object' && args[0] !== null) {
      return listen.call(this, { ...args[0], host: LOOPBACK }, ...args.slice(1))
    }
    // listen([port][, host][, backlog][, callback])
    const port = typeof args[0] === 'number' ? args[0] : 0
    const cb = args.find(a => typeof a === 'function')
    return cb ? listen.call(this, port, LOOPBACK, cb) : listen.call(this, port, LOOPBACK)
  }
}
guardLoopback()

const { default: WebTorrent } = await import('webtorrent')

const t0 = performance.now()
const ms = () => Math.round(performance.now() - t0)
const timings = {}

const client = new WebTorrent({
  dht: { bootstrap: [`${LOOPBACK}:${bootstrapPort}`], host: LOOPBACK },
  tracker: false,
  lsd: false,
  natUpnp: false,
  natPmp: false,
  webSeeds: false,
  utPex: false,
  utp: false
})

let torrent
const timer = setTimeout(() => {
  const state = torrent
    ? `metadata ${torrent.metadata ? 'yes' : 'no'}, peers ${torrent.numPeers}, ` +
      `${torrent.downloaded}/${torrent.length ?? '?'} bytes`
    : 'torrent not added'
  const dht = client.dht ? `, DHT nodes ${client.dht.toJSON().nodes.length}` : ''
  fail(2, `timed out after ${timeoutS} s (${state}${dht})`)
}, timeoutS * 1000)

client.on('error', err => fail(1, `client error: ${err.message ?? err}`))

torrent = client.add(magnet, { path: outDir, announce: [] })
torrent.on('error', err => fail(1, `torrent error: ${err.message ?? err}`))
torrent.once('wire', () => { timings.first_peer_ms ??= ms() })

// WebTorrent asks the DHT for peers once when the torrent is added, then every 15
// minutes. A seeder's announce may land a moment after that first lookup (mumba
// publish returns before libtorrent's announce is stored), so ask again every
// second until a peer connects, as libtorrent does on its own.
let lookups = 1
const relookup = setInterval(() => {
  if (!client.dht || torrent.destroyed || torrent.done) return clearInterval(relookup)
  if (!torrent.infoHash || torrent.wires.length > 0) return
  lookups++
  client.dht.lookup(torrent.infoHash)
}, 1000)
torrent.once('metadata', () => { timings.metadata_ms = ms() })
torrent.once('done', () => {
  timings.done_ms = ms()
  clearInterval(relookup)
  const summary = {
    info_hash: torrent.infoHash,
    name: torrent.name,
    bytes: torrent.length,
    files: torrent.files.length,
    peers: torrent.numPeers,
    dht_lookups: lookups,
    ...timings
  }
  // destroy() closes the file store, so every byte is on disk when we exit.
  client.destroy(err => {
    clearTimeout(timer)
    if (err) fail(1, `closing the client: ${err.message ?? err}`)
    summary.closed_ms = ms()
    process.stdout.write(JSON.stringify(summary) + '\n')
    process.exit(0)
  })
})
