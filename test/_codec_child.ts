// Child of codec_test.ts, run on another runtime than the test:
//   encode SEED COUNT        prints the structured encoding of corpus(SEED, COUNT), one base64
//                            line per value
//   check SEED COUNT         reads such lines on stdin, decodes each, compares it with its own
//                            corpus(SEED, COUNT) and re-encodes it: prints "ok COUNT" or the
//                            first difference (exit 1)
//   read-store DIR SEED COUNT  opens the sqlite store DIR and reads "v:<i>" through
//                            typed(store, structured): prints "ok COUNT" or the first difference
import { Buffer } from "node:buffer";
import process from "node:process";
import { structured } from "../core/codec.ts";
import { corpus, difference } from "./_codec_values.ts";

const [mode, a, b, c] = process.argv.slice(2);

async function stdinLines(): Promise<string[]> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString("utf8").split("\n").filter((l) => l !== "");
}

function fail(message: string): never {
  console.log(message);
  process.exit(1);
}

if (mode === "encode") {
  const lines = corpus(Number(a), Number(b)).map((v) =>
    Buffer.from(structured.encode(v)).toString("base64")
  );
  console.log(lines.join("\n"));
} else if (mode === "check") {
  const values = corpus(Number(a), Number(b));
  const lines = await stdinLines();
  if (lines.length !== values.length) {
    fail(`received ${lines.length} values, expected ${values.length}`);
  }
  lines.forEach((line, i) => {
    const bytes = new Uint8Array(Buffer.from(line, "base64"));
    const decoded = structured.decode(bytes);
    const d = difference(values[i], decoded, `value ${i}`);
    if (d) fail(d);
    const again = Buffer.from(structured.encode(decoded)).toString("base64");
    if (again !== line) fail(`value ${i}: re-encoded bytes differ`);
  });
  console.log(`ok ${lines.length}`);
} else if (mode === "read-store") {
  const { openStore, typed } = await import("../mod.ts");
  const values = corpus(Number(b), Number(c));
  const store = await openStore(a);
  const kv = typed(store, structured);
  const found = await kv.batchGet(values.map((_, i) => `v:${i}`));
  for (let i = 0; i < values.length; i++) {
    if (!found.has(`v:${i}`)) fail(`v:${i} missing`);
    const d = difference(values[i], found.get(`v:${i}`), `v:${i}`);
    if (d) fail(d);
  }
  await store.close();
  console.log(`ok ${values.length}`);
} else {
  fail(`unknown mode ${mode}`);
}
