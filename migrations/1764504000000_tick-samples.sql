-- Up Migration

-- The seconds before a kill: at a breach (a stop, a termination sequence, a kernel OOM kill) the
-- wrapper journals the last ticks it kept in memory, and every tick of the grace period after it, as
-- samples, so that a post-mortem shows the tree's memory at tick resolution (100 ms near a limit) up
-- to the kill instead of one sample every 10 s. `tick` tells them from the periodic and peak samples;
-- older rows, and every periodic or peak sample, are false.
ALTER TABLE watchdog_samples ADD COLUMN tick boolean NOT NULL DEFAULT false;
-- On tick samples, the 5 largest processes by RSS at that tick, largest first:
-- [{"pid": 123, "comm": "python3", "rss_bytes": 1048576}, ...]. Null on the others: which process
-- held the memory matters at a kill, and the periodic rows stay as small as they were.
ALTER TABLE watchdog_samples ADD COLUMN top_processes jsonb;

-- Down Migration
-- The older schema has no place for them: the tick rows stay, as samples like the others.
ALTER TABLE watchdog_samples DROP COLUMN top_processes;
ALTER TABLE watchdog_samples DROP COLUMN tick;
