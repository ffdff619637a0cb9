// The sweeper's timer. node:timers (on Bun and Deno alike) gives a timer that can be
// unref'd, so a store left open never keeps the process alive.
import { clearInterval, setInterval } from "node:timers";
import type { Scheduler } from "../core/engine.ts";

export const unrefScheduler: Scheduler = (fn, ms) => {
  const timer = setInterval(fn, ms);
  timer.unref();
  return () => clearInterval(timer);
};
