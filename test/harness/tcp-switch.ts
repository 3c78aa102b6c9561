// A loopback TCP forwarder that can be switched off and on: off, its port refuses connections
// (ECONNREFUSED) and open connections are cut, as when a registry host goes down; on, it forwards
// to the registry again on the same port.
import { createConnection, createServer, type Server, type Socket } from 'node:net'
import { listenBelowEphemeral } from './net.js'

export interface TcpSwitch {
  /** `127.0.0.1:PORT` */
  host: string
  port: number
  readonly isUp: boolean
  down(): Promise<void>
  up(): Promise<void>
  close(): Promise<void>
}

export async function startTcpSwitch(upstreamPort: number): Promise<TcpSwitch> {
  const sockets = new Set<Socket>()
  const track = (s: Socket) => {
    sockets.add(s)
    s.on('close', () => sockets.delete(s))
  }
  const server: Server = createServer((client) => {
    track(client)
    const upstream = createConnection({ host: '127.0.0.1', port: upstreamPort })
    track(upstream)
    client.pipe(upstream).pipe(client)
    client.on('error', () => upstream.destroy())
    upstream.on('error', () => client.destroy())
  })
  const listen = (port: number) =>
    new Promise<void>((resolve, reject) => {
      server.once('error', reject)
      server.listen(port, '127.0.0.1', () => {
        server.off('error', reject)
        resolve()
      })
    })
  const port = await listenBelowEphemeral(listen)
  let isUp = true
  const down = async () => {
    if (!isUp) return
    isUp = false
    const closed = new Promise<void>((resolve) => server.close(() => resolve()))
    for (const s of sockets) s.destroy()
    await closed
  }
  return {
    host: `127.0.0.1:${port}`,
    port,
    get isUp() {
      return isUp
    },
    down,
    async up() {
      if (isUp) return
      await listen(port)
      isUp = true
    },
    close: down,
  }
}
