/**
 * The tracking backends, strongest first (docs/design.md §4); --tracking names one, or `auto` for the strongest available:
 *   cgroup    — one cgroup v2 per run: membership is the kernel's, nothing can leave it unprivileged;
 *   subreaper — the wrapper is the child subreaper: orphans re-parent to it, not to init;
 *   pgroup    — process group + session + ppid ancestry + cookie: works everywhere, but a process
 *               that clears its environment and daemonizes between two scans escapes it.
 */
export type TrackingBackend = 'cgroup' | 'subreaper' | 'pgroup';

export const TRACKING_BACKENDS: readonly TrackingBackend[] = ['cgroup', 'subreaper', 'pgroup'];
