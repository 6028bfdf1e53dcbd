import type { Member } from './member.js';

/** The tracking backends, strongest first; this build has `pgroup` (cgroup and subreaper come later). */
export type TrackingBackend = 'pgroup';

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
  /** Re-reads the tree. Never throws for processes that vanish mid-scan. */
  scan(): TreeSnapshot;
  /** Every member ever seen, alive or not, in order of discovery. */
  members(): Member[];
}
