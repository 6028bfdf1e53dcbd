// The full-disk state directory: as root, a small tmpfs mounted for one group of runs, filled to
// ENOSPC at random moments (a filler file takes whatever space is left) and freed again. Not root,
// or mount(8) refuses: the fault is skipped and the report says why. Unmounted at the end.
import { execFile, execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** A mounted small tmpfs and the state directory in it. */
export class FullDisk {
  private fillers = 0;
  /** The filler files present now. */
  private readonly present: string[] = [];

  private constructor(
    /** Where the tmpfs is mounted. */
    readonly mountPoint: string,
    /** The state directory of the full-disk group: `<mountPoint>/state`. */
    readonly stateDir: string,
    /** The tmpfs's size, KiB. */
    readonly sizeKiB: number,
  ) {}

  /**
   * Mounts a tmpfs of `sizeKiB` KiB under `workDir`.
   * @returns the mounted disk, or why it could not be (not root, mount failed)
   */
  static async mount(workDir: string, sizeKiB: number): Promise<FullDisk | { skipped: string }> {
    if (process.getuid?.() !== 0) return { skipped: 'not root' };
    const mountPoint = mkdtempSync(join(workDir, 'full-disk-'));
    try {
      await run('mount', ['-t', 'tmpfs', '-o', `size=${sizeKiB}k,mode=0700`, 'scidex-stress-full-disk', mountPoint]);
    } catch (error) {
      rmSync(mountPoint, { recursive: true, force: true });
      return { skipped: `mount -t tmpfs failed: ${String((error as { stderr?: string }).stderr ?? error).trim()}` };
    }
    const disk = new FullDisk(mountPoint, join(mountPoint, 'state'), sizeKiB);
    mkdirSync(disk.stateDir, { mode: 0o700 });
    // A harness killed on the way (Ctrl-C) still unmounts.
    process.on('exit', disk.onExit);
    return disk;
  }

  /** Fills what is left of the tmpfs with a filler file (the write stops at ENOSPC). */
  fill(): void {
    const filler = join(this.mountPoint, `filler-${++this.fillers}`);
    try {
      writeFileSync(filler, Buffer.alloc((this.sizeKiB + 64) * 1024));
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOSPC') throw error;
    }
    this.present.push(filler);
  }

  /** Whether a filler holds the disk full now. */
  get full(): boolean {
    return this.present.length > 0;
  }

  /** Removes every filler: the space is back. */
  free(): void {
    for (const filler of this.present.splice(0)) rmSync(filler, { force: true });
  }

  /**
   * Frees the disk and unmounts it; the state directory goes with it (copied to `keepIn` first, if given).
   * @returns why it could not be unmounted, or undefined
   */
  async unmount(keepIn?: string): Promise<string | undefined> {
    this.free();
    if (keepIn) await run('cp', ['-a', this.stateDir, keepIn]).catch(() => undefined);
    try {
      await run('umount', [this.mountPoint]);
    } catch (error) {
      return `umount ${this.mountPoint} failed: ${String((error as { stderr?: string }).stderr ?? error).trim()}`;
    }
    process.off('exit', this.onExit);
    rmSync(this.mountPoint, { recursive: true, force: true });
    return undefined;
  }

  private readonly onExit = (): void => {
    try {
      execFileSync('umount', [this.mountPoint], { stdio: 'ignore' });
    } catch {
      // Nothing more can be done on the way out.
    }
  };
}
