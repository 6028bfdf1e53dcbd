// The harness's only source of randomness: a seeded PRNG (mulberry32), so that the choices of a
// run (which commands, which state directories, when and where faults hit) are replayed by its
// seed. Timing still varies between two runs of one seed; the choices do not.
import { randomInt } from 'node:crypto';

/** A fresh seed: a random unsigned 32-bit integer. */
export function newSeed(): number {
  return randomInt(0, 2 ** 32);
}

/** A seeded pseudo-random stream. Two streams made from one seed and one label give the same numbers. */
export class Random {
  private state: number;

  /**
   * @param seed any unsigned 32-bit integer
   * @param label a stream name: runs and faults draw from streams of their own, so that adding a
   *        fault kind does not change which runs are planned
   */
  constructor(seed: number, label = '') {
    let mixed = seed >>> 0;
    for (const char of label) mixed = Math.imul(mixed ^ char.charCodeAt(0), 0x9e3779b1) >>> 0;
    this.state = mixed;
  }

  /** A number in [0, 1). */
  next(): number {
    this.state = (this.state + 0x6d2b79f5) >>> 0;
    let t = this.state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }

  /** An integer in [min, max], both included. */
  int(min: number, max: number): number {
    return min + Math.floor(this.next() * (max - min + 1));
  }

  /** A number in [min, max). */
  between(min: number, max: number): number {
    return min + this.next() * (max - min);
  }

  /** One of `items`, uniformly. @throws on an empty list */
  pick<T>(items: readonly T[]): T {
    if (items.length === 0) throw new Error('pick from an empty list');
    return items[Math.floor(this.next() * items.length)];
  }

  /** One key of `weights`, with probability proportional to its weight. */
  weighted<K extends string>(weights: Readonly<Record<K, number>>): K {
    const entries = Object.entries(weights) as [K, number][];
    const total = entries.reduce((sum, [, weight]) => sum + weight, 0);
    let at = this.next() * total;
    for (const [key, weight] of entries) {
      at -= weight;
      if (at < 0) return key;
    }
    return entries[entries.length - 1][0];
  }

  /** A delay of a Poisson process with mean `meanMs`, in milliseconds. */
  exponential(meanMs: number): number {
    return -Math.log(1 - this.next()) * meanMs;
  }

  /** A shuffled copy of `items` (Fisher-Yates). */
  shuffle<T>(items: readonly T[]): T[] {
    const copy = [...items];
    for (let i = copy.length - 1; i > 0; i--) {
      const j = Math.floor(this.next() * (i + 1));
      [copy[i], copy[j]] = [copy[j], copy[i]];
    }
    return copy;
  }
}
