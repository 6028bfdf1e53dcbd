import type { TrackingBackend } from '../config/tracking.js';
import type { Member } from './member.js';

/** The live part of the tree after one scan. */
export interface TreeSnapshot {
  /** Members alive now (not gone, not zombies). */
  alive: Member[];
  /** Members first seen in this scan. */
  born: Member[];
  /** Members found gone or dead in this scan. */
  died: Member[];
  /** Sum of the RSS of the alive members, bytes. */
  rssBytes: number;
  /** Wall clock of the scan, epoch milliseconds. */
  atMs: number;
}

/**
 * Knows which processes belong to a run. The supervisor scans it every tick; the termination
 * sequence scans it until the tree is empty. Implementations never send signals.
 */
export interface Tracker {
  readonly backend: TrackingBackend;
  /** The run's cgroup directory (absolute path) when the backend is `cgroup`: terminate/ freezes and kills through it. */
  readonly cgroupPath?: string;
  /**
   * Re-reads the tree. Never throws for processes that vanish mid-scan.
   * @param afterListing called between listing the pids and reading each one's stat, by a backend
   *   that lists first (cgroup.procs): the place of a failpoint that lets a listed process exit
   */
  scan(afterListing?: () => void): TreeSnapshot;
  /** Every member ever seen, alive or not, in order of discovery. */
  members(): Member[];
  /** Gives back what the backend holds (the cgroup directory) once the tree is empty; never throws. */
  release(): void;
}
