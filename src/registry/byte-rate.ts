// A ceiling on bytes per second (--limit-rate for the whole process, limits.bandwidth per registry):
// a token bucket with a quarter second of burst; a blob transfer (BlobRelay) waits on it per chunk.

import { setTimeout as sleep } from 'node:timers/promises'

export class ByteRate {
  private tokens: number
  private refilledAt = Date.now()
  private readonly burst: number

  constructor(readonly bytesPerSecond: number) {
    this.burst = Math.max(16 * 1024, Math.floor(bytesPerSecond / 4))
    this.tokens = this.burst
  }

  /** Waits until `n` bytes may pass (n may exceed the burst: it is taken in pieces). */
  async take(n: number): Promise<void> {
    let left = n
    while (left > 0) {
      const now = Date.now()
      this.tokens = Math.min(this.burst, this.tokens + ((now - this.refilledAt) / 1000) * this.bytesPerSecond)
      this.refilledAt = now
      const piece = Math.min(left, this.burst)
      if (this.tokens >= piece) {
        this.tokens -= piece
        left -= piece
        continue
      }
      await sleep(Math.ceil(((piece - this.tokens) / this.bytesPerSecond) * 1000))
    }
  }
}
