// netguard.js: keep a Node process on the loopback interface. After
// guardNetwork(), every outbound TCP connection to an address outside
// 127.0.0.0/8 and ::1 fails with ECONNREFUSED before a packet is sent (host
// names are looked up and refused unless they resolve to loopback only), each
// refusal is logged to stderr as "pds.js: refused outbound connection to
// HOST", and DNS queries (c-ares: handle TXT lookups) go to a closed local port.

import dns from 'node:dns'
import net from 'node:net'

const isLoopback = (addr) =>
  net.isIPv4(addr)
    ? addr.startsWith('127.')
    : net.isIPv6(addr)
      ? addr === '::1' || addr.startsWith('::ffff:127.')
      : false

function refuse(host) {
  process.stderr.write(`pds.js: refused outbound connection to ${host}\n`)
  const err = new Error(`pds.js: outbound connection to ${host} refused (tests stay on loopback)`)
  err.code = 'ECONNREFUSED'
  return err
}

// A lookup that only ever answers loopback addresses.
function loopbackLookup(hostname, options, callback) {
  if (typeof options === 'function') {
    callback = options
    options = {}
  }
  dns.lookup(hostname, options, (err, address, family) => {
    if (err) return callback(err)
    const list = Array.isArray(address) ? address : [{ address, family }]
    const bad = list.find((a) => !isLoopback(a.address))
    if (bad) return callback(refuse(`${hostname} (${bad.address})`))
    callback(null, address, family)
  })
}

export function guardNetwork() {
  const connect = net.Socket.prototype.connect
  net.Socket.prototype.connect = function (...args) {
    // net.connect passes its normalised [options, cb] array; others pass
    // (options, cb), (port, host, cb) or (path, cb).
    let opts = args[0]
    if (Array.isArray(opts)) opts = opts[0]
    if (opts && typeof opts === 'object') {
      if (opts.path == null) {
        const host = opts.host ?? 'localhost'
        if (net.isIP(host)) {
          if (!isLoopback(host)) {
            const err = refuse(host)
            process.nextTick(() => this.destroy(err))
            return this
          }
        } else {
          opts.lookup = loopbackLookup
        }
      }
    } else if (typeof opts === 'number' || (typeof opts === 'string' && /^\d+$/.test(opts))) {
      const host = typeof args[1] === 'string' ? args[1] : 'localhost'
      if (net.isIP(host) ? !isLoopback(host) : host !== 'localhost') {
        const err = refuse(host)
        process.nextTick(() => this.destroy(err))
        return this
      }
    }
    return connect.apply(this, args)
  }
  // DNS queries (handle TXT records) go nowhere.
  dns.setServers(['127.0.0.1:9'])
}

