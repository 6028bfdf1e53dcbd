"""Word frequencies over the Python standard library's own source files, with a pool of workers.

A real analysis on real data that every machine has: each worker tokenises a share of the .py files
of the running interpreter's standard library; the parent merges the counts and prints the top words.
Stdlib only. Usage: python3 wordfreq.py [TOP] [WORKERS]
"""
import collections
import multiprocessing
import pathlib
import re
import sys
import sysconfig

WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]{2,}")


def count_file(path):
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return collections.Counter()
    return collections.Counter(WORD.findall(text))


def main():
    top = int(sys.argv[1]) if len(sys.argv) > 1 else 15
    workers = int(sys.argv[2]) if len(sys.argv) > 2 else 4
    stdlib = pathlib.Path(sysconfig.get_paths()["stdlib"])
    files = sorted(p for p in stdlib.rglob("*.py") if "site-packages" not in p.parts)
    totals = collections.Counter()
    with multiprocessing.Pool(workers) as pool:
        for counts in pool.imap_unordered(count_file, files, chunksize=16):
            totals.update(counts)
    print(f"{len(files)} files, {sum(totals.values())} words, {len(totals)} distinct")
    for word, count in totals.most_common(top):
        print(f"{count:9d}  {word}")


if __name__ == "__main__":
    main()
