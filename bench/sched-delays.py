#!/usr/bin/env python3
"""Where a thread waited for a CPU: reads `perf sched timehist` output and, for one thread, prints how
long it waited between its wake-up and running (the scheduler delay), which tasks ran on its CPU
meanwhile, and how much of that time the other CPUs were idle (bench/RESULTS.md §46).

    perf sched record -a -o sched.data -- sleep 10      # while the drain runs
    perf sched timehist -i sched.data > timehist.txt
    bench/sched-delays.py timehist.txt 'redis-server[PID]' [threshold ms, default 1]
"""
import collections
import re
import sys


def parse(path):
    """(switch-out time s, cpu, task, sched delay ms, run time ms) per line of timehist output."""
    out = []
    for line in open(path):
        p = line.split()
        if len(p) < 6 or not re.match(r"^\d+\.\d+$", p[0]):
            continue
        try:
            out.append((float(p[0]), int(p[1].strip("[]")), p[2], float(p[-2]), float(p[-1])))
        except ValueError:
            continue
    return out


def main():
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    rows = parse(sys.argv[1])
    task = sys.argv[2]
    threshold = float(sys.argv[3]) if len(sys.argv) > 3 else 1.0
    mine = [r for r in rows if r[2] == task]
    if not mine:
        sys.exit(f"no line for {task}")
    delays = sorted(r[3] for r in mine)
    pick = lambda q: delays[min(len(delays) - 1, int(len(delays) * q))]
    print(f"{task}: {len(mine)} runs; scheduler delay p50 {pick(0.5):.3f} ms, p99 {pick(0.99):.3f} ms, "
          f"max {delays[-1]:.3f} ms")
    slow = [r for r in mine if r[3] > threshold]
    print(f"{len(slow)} waits over {threshold} ms, {sum(r[3] for r in slow):.1f} ms in all")
    behind = collections.Counter()
    idle_other = 0.0
    for (out, cpu, _, delay, run) in slow:
        ran = out - run / 1000  # when it got the CPU
        waited = ran - delay / 1000  # when it was woken
        for (o2, c2, t2, _, r2) in rows:
            s2 = o2 - r2 / 1000
            if o2 <= waited or s2 >= ran:
                continue
            overlap = (min(o2, ran) - max(s2, waited)) * 1000
            if c2 == cpu and t2 != task:
                behind[re.sub(r"\[.*", "", t2)] += overlap
            elif c2 != cpu and t2 == "<idle>":
                idle_other += overlap
    total = sum(r[3] for r in slow) or 1
    print("ran on its CPU meanwhile (ms):",
          ", ".join(f"{t} {ms:.1f}" for t, ms in behind.most_common(8)))
    print(f"other CPUs idle meanwhile: {idle_other:.1f} ms ({idle_other / total:.0%} of the waits)")


if __name__ == "__main__":
    main()
