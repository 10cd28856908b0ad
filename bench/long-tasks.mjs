// Long-task tracer for bench/reload.mjs --long-tasks MS (preloaded into c2dns with node --import):
// every event-loop pause longer than LONG_TASKS_MS, split into what the main thread did in it, from
// /proc/self/task/PID/schedstat: time on a CPU (a long task: JS, GC, a synchronous call), time
// runnable but waiting for a CPU (other threads or processes on its core), and the rest, neither
// (blocked in a lock or a system call, or a late wake-up). Wall-clock pauses on a busy machine are
// mostly the second kind; only the first is c2dns's to slice. Lines go to LONG_TASKS_FILE:
//   end_us gap_ms cpu_ms wait_ms   (end_us: CLOCK_MONOTONIC, the clock of process.hrtime)
// The schedstat figures move at scheduler ticks: a few ms either way, enough at >= 20 ms.
import { appendFileSync, openSync, readSync } from 'node:fs';

const FILE = process.env.LONG_TASKS_FILE;
const MIN_MS = Number(process.env.LONG_TASKS_MS ?? 20);
const TICK_MS = 2;

if (FILE !== undefined && process.platform === 'linux') {
  const fd = openSync(`/proc/self/task/${process.pid}/schedstat`, 'r');
  const buf = Buffer.alloc(128);
  const sched = () => {
    const f = buf.toString('latin1', 0, readSync(fd, buf, 0, buf.length, 0)).split(' ');
    return [Number(f[0]) / 1e6, Number(f[1]) / 1e6];
  };
  let last = process.hrtime.bigint();
  let [lastCpu, lastWait] = sched();
  setInterval(() => {
    const now = process.hrtime.bigint();
    const [cpu, wait] = sched();
    const gap = Number(now - last) / 1e6;
    if (gap > MIN_MS) appendFileSync(FILE, `${now / 1000n} ${gap.toFixed(1)} ${(cpu - lastCpu).toFixed(1)} ${(wait - lastWait).toFixed(1)}\n`);
    last = now;
    lastCpu = cpu;
    lastWait = wait;
  }, TICK_MS).unref();
}
