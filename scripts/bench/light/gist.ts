// What the report shows of a process's stderr: one line, enough to tell a crash from a warning.
/** The first line that names an error (a Node crash prints its stack before the version line), else the last two. */
export const stderrGist = (stderr: string): string => {
  const lines = stderr.trim().split('\n');
  const error = lines.find((line) => /error|cannot|not found/i.test(line));
  return (error ?? lines.slice(-2).join(' / ')).trim().slice(0, 240);
};
