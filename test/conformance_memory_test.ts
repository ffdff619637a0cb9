import { openMemoryBackend } from "../backends/memory.ts";
import { conformance } from "./conformance.ts";
import { conformanceForBackend } from "./_targets.ts";

conformanceForBackend("memory", "memory");
conformance("memory bare backend", async ({ now }) => ({
  store: await openMemoryBackend({ now }),
  dispose: () => Promise.resolve(),
}), { shards: 1 });
