// Typed values: the structured codec's exact round trips (random values of every kind), its
// bytes read the same on Deno, Bun and Node (encoded on one runtime, decoded on another, also
// through a store on disk), the json and text codecs, the typed view over a store, and bad
// input: a value a codec refuses throws TypeError and stores nothing.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { Buffer } from "node:buffer";
import {
  type Codec,
  decodeCounter,
  DecodeError,
  json,
  openStore,
  structured,
  text,
  typed,
} from "../mod.ts";
import { corpus, difference, randomValue } from "./_codec_values.ts";
import { ROOT, SLOW } from "./_runtimes.ts";
import { prng as rng, withTempDir } from "./_helpers.ts";

function assertSame(actual: unknown, expected: unknown, what = "value"): void {
  const d = difference(expected, actual);
  assert.equal(d, undefined, `${what}: ${d}`);
}

const hex = (b: Uint8Array): string => Buffer.from(b).toString("hex");

test("structured: 2000 random values of every kind round-trip exactly, re-encoding to the same bytes", () => {
  const next = rng(20261129);
  for (let i = 0; i < 2000; i++) {
    const value = randomValue(next, 4);
    const bytes = structured.encode(value);
    const back = structured.decode(bytes);
    assertSame(back, value, `value ${i}`);
    assert.equal(hex(structured.encode(back)), hex(bytes), `value ${i} re-encoded`);
  }
});

test("structured: edge values keep their exact type and value", () => {
  const big = 2n ** 1000n + 12345n;
  const sparse = [1, , 3]; // deliberately sparse
  const withProto = JSON.parse('{"__proto__": {"x": 1}, "a": 2}');
  const cases: unknown[] = [
    -0,
    NaN,
    Infinity,
    -Infinity,
    2 ** 31,
    -(2 ** 31),
    Number.MAX_SAFE_INTEGER + 2,
    0n,
    -1n,
    big,
    -big,
    "",
    "\ud800 lone and 😀 pair",
    undefined,
    null,
    [undefined, null],
    sparse,
    { u: undefined },
    withProto,
    new Date(0),
    new Date(NaN),
    new Map<unknown, unknown>([[1, "one"], ["1", "string one"], [{ k: 1 }, new Set([2n])]]),
    new Set([-0, 0, NaN]),
    /x+y/giu,
    new ArrayBuffer(0),
    new Uint8Array([0, 255]),
    new Float64Array([NaN, -0]),
    new BigUint64Array([2n ** 64n - 1n]),
    new Int32Array(new ArrayBuffer(16), 4, 2),
    new DataView(new ArrayBuffer(4), 1, 2),
    { nested: { deeper: [{ deepest: new Map([["d", new Date(1)]]) }] } },
  ];
  for (const value of cases) assertSame(structured.decode(structured.encode(value)), value);
  // The own "__proto__" key stays data, and does not become the prototype.
  const back = structured.decode(structured.encode(withProto)) as Record<string, unknown>;
  assert.equal(Object.getPrototypeOf(back), Object.prototype);
  assert.deepEqual(Object.keys(back), ["__proto__", "a"]);
  // A Node Buffer is a Uint8Array: it reads back as a plain Uint8Array with the same bytes.
  const fromBuffer = structured.decode(structured.encode(Buffer.from("hi")));
  assert.equal(Object.getPrototypeOf(fromBuffer), Uint8Array.prototype);
  assert.deepEqual([...(fromBuffer as Uint8Array)], [104, 105]);
  // A null-prototype object reads back as a plain object with the same entries.
  const bare = Object.assign(Object.create(null), { a: 1 });
  assert.deepEqual({ ...(structured.decode(structured.encode(bare)) as object) }, { a: 1 });
});

test("structured: values it cannot keep exactly throw TypeError naming what and where", () => {
  const cyclic: Record<string, unknown> = { a: 1 };
  cyclic.self = cyclic;
  class Point {
    x = 1;
  }
  const cases: [unknown, RegExp][] = [
    [() => 1, /cannot encode a function$/],
    [Symbol("s"), /cannot encode a symbol$/],
    [{ a: [1, { b: () => 2 }] }, /a function at \.a\[1\]\.b$/],
    [new Map([["k", Symbol("v")]]), /a symbol at <value 0>$/],
    [cyclic, /a cyclic reference at \.self$/],
    [new Point(), /an instance of Point/],
    [new Error("e"), /an instance of Error/],
    [{ [Symbol("k")]: 1 }, /a symbol-keyed property/],
    [new WeakMap(), /an instance of WeakMap/],
    [Object(1), /an instance of Number/],
  ];
  for (const [value, message] of cases) {
    assert.throws(() => structured.encode(value), (e: unknown) => {
      assert.ok(e instanceof TypeError, `${String(e)} is not a TypeError`);
      assert.match((e as Error).message, message);
      return true;
    });
  }
  // The same object twice (not a cycle) is fine: it is written twice.
  const shared = { n: 1 };
  assertSame(structured.decode(structured.encode([shared, shared])), [{ n: 1 }, { n: 1 }]);
});

test("structured: bytes it did not write throw TypeError, never anything else", () => {
  const good = structured.encode({ a: [1, "x", new Date(0), 2n ** 80n, new Set([1])] });
  for (
    const bad of [
      new Uint8Array(0),
      new Uint8Array([2, 1]), // unknown version
      new Uint8Array([1, 99]), // unknown tag
      new Uint8Array([1, 1, 1]), // trailing byte
      good.subarray(0, good.length - 1), // truncated
      new Uint8Array([1, 9, 0xff, 0xff, 0xff, 0xff, 0x0f]), // array longer than the input
      new Uint8Array([1, 7, 2, 0xc3, 0x28]), // invalid UTF-8
      new Uint8Array([1, 17, 3, 3, 1, 2, 3]), // Int16Array of 3 bytes
    ]
  ) {
    assert.throws(() => structured.decode(bad), TypeError, hex(bad));
  }
  // Random damage to valid encodings: each either decodes or throws TypeError.
  const next = rng(99);
  for (let i = 0; i < 3000; i++) {
    const bytes = structured.encode(randomValue(next, 3)).slice();
    const at = Math.floor(next() * bytes.length);
    bytes[at] = Math.floor(next() * 256);
    try {
      structured.decode(bytes.subarray(0, bytes.length - Math.floor(next() * 2)));
    } catch (e) {
      assert.ok(e instanceof TypeError, `${hex(bytes)}: ${e}`);
    }
  }
});

test("json and text codecs: round trips and refusals", () => {
  const value = { name: "Ada", tags: ["x"], n: 1.5, nested: { ok: true, none: null } };
  assert.deepEqual(json.decode(json.encode(value)), value);
  assert.equal(new TextDecoder().decode(json.encode(value)), JSON.stringify(value));
  assert.equal(json.decode(json.encode("\ud800")), "\ud800");
  for (const bad of [undefined, () => 1, Symbol("s"), 1n]) {
    assert.throws(() => json.encode(bad), TypeError);
  }
  assert.throws(() => json.decode(new TextEncoder().encode("{")), SyntaxError);
  assert.equal(text.decode(text.encode("héllo 😀")), "héllo 😀");
  assert.throws(() => text.encode(1 as unknown as string), /encodes strings, received number 1/);
  assert.throws(() => text.encode("a\udc00"), /lone surrogate/);
  assert.throws(() => text.decode(new Uint8Array([0xff])), TypeError);
});

for (const backend of ["memory", "sqlite"] as const) {
  test(`typed view over a ${backend} store: every call reads and writes T`, async () => {
    await withTempDir(async (dir) => {
      const store = await openStore(backend === "memory" ? "" : dir, { backend, shards: 4 });
      try {
        const kv = typed<{ at: Date; tags: Set<string> } | number>(store, structured);
        await kv.set("p:1", { at: new Date(1), tags: new Set(["a"]) });
        assertSame(await kv.get("p:1"), { at: new Date(1), tags: new Set(["a"]) });
        assert.equal(await kv.get("p:missing"), undefined);
        await kv.batchSet([["p:2", 2], ["p:3", 3]]);
        await kv.batchSet({ "p:4": 4 }, { ttl: 60_000 });
        assert.ok((await kv.ttl("p:4"))! <= 60_000 && (await kv.ttl("p:4"))! > 0);
        assert.equal(await kv.ttl("p:2"), Infinity);
        assertSame(await kv.batchGet(["p:2", "p:4", "p:none"]), new Map([["p:2", 2], ["p:4", 4]]));
        assertSame(await kv.scan("p:", { after: "p:1" }), [2, 3, 4]);
        assertSame(await kv.scan("p:", { reverse: true, limit: 2 }), [4, 3]);
        assert.deepEqual(await kv.scanKeys("p:"), ["p:1", "p:2", "p:3", "p:4"]);
        assertSame(
          await kv.scanKeysWithValues("p:", { limit: 3, after: "p:1" }),
          new Map([["p:2", 2], ["p:3", 3], ["p:4", 4]]),
        );
        const streamed: [string, unknown][] = [];
        for await (const entry of kv.entries("p:", { after: "p:2" })) streamed.push(entry);
        assertSame(streamed, [["p:3", 3], ["p:4", 4]]);
        assert.equal(await kv.exists("p:3"), true);
        assert.equal(await kv.delete("p:3"), true);
        assert.equal(await kv.batchDelete(["p:2", "p:3"]), 1);
        // What the view wrote is the codec's bytes in the store.
        assert.equal(hex((await store.get("p:4"))!), hex(structured.encode(4)));
        // Counters stay on the store, in their 8-byte format, next to typed values.
        assert.equal(await kv.store.incr("p:hits", 5), 5);
        assert.equal(decodeCounter((await store.get("p:hits"))!), 5);
        assert.equal(kv.store, store);
        assert.equal(kv.codec, structured);
        // A counter is not a structured value: reading it through the view names the key.
        await assert.rejects(kv.get("p:hits"), (e: unknown) => {
          assert.ok(e instanceof DecodeError);
          assert.equal(e.name, "DecodeError");
          assert.equal(e.key, "p:hits");
          assert.ok(e.cause instanceof TypeError);
          assert.match(e.message, /"p:hits" \(8 bytes\) is not readable by the structured codec/);
          return true;
        });
        await assert.rejects(kv.scan("p:"), DecodeError);
        await assert.rejects(kv.batchGet(["p:hits"]), DecodeError);
        await assert.rejects(async () => {
          for await (const _ of kv.entries("p:")) { /* reaches p:hits */ }
        }, DecodeError);
      } finally {
        await store.close();
      }
    });
  });
}

test("typed view: a value the codec refuses throws TypeError and stores nothing", async () => {
  const store = await openStore("", { backend: "memory", shards: 4 });
  const kv = typed(store, structured);
  await kv.set("keep", "old");
  for (const bad of [() => 1, Symbol("s"), { f: () => 1 }]) {
    await assert.rejects(kv.set("keep", bad), TypeError);
    await assert.rejects(kv.set("new", bad), TypeError);
  }
  // One bad value in a batch: none of its entries is written, in either batch form.
  const entries: [string, unknown][] = Array.from({ length: 20 }, (_, i) => [`b:${i}`, i]);
  entries.push(["b:bad", Symbol("s")]);
  await assert.rejects(kv.batchSet(entries), TypeError);
  await assert.rejects(kv.batchSet({ "b:1": 1, "b:bad": () => 1 }), TypeError);
  await assert.rejects(kv.batchSet([["only-key"]] as unknown as [string, unknown][]), TypeError);
  await assert.rejects(kv.batchSet(5 as unknown as [string, unknown][]), TypeError);
  assert.deepEqual(await store.scanKeys(""), ["keep"]);
  assert.equal(await kv.get("keep"), "old");
  // json refuses what has no JSON form; text refuses non-strings.
  await assert.rejects(typed(store, json).set("j", 1n), TypeError);
  await assert.rejects(typed(store, text).set("t", 1 as unknown as string), TypeError);
  // A custom codec that does not return bytes is refused before the store sees it.
  const broken: Codec<string> = { name: "broken", encode: (s) => s as never, decode: String };
  await assert.rejects(typed(store, broken).set("x", "y"), /Codec broken returned string "y"/);
  assert.deepEqual(await store.scanKeys(""), ["keep"]);
  // Bad keys are still the store's InvalidKeyError (a TypeError).
  await assert.rejects(kv.set("", 1), TypeError);
  assert.throws(() => typed(store, {} as Codec<unknown>), /codec with encode and decode/);
  assert.throws(() => typed(null as never, json), /takes a store/);
  await store.close();
});

/** Runtimes that can run the TypeScript child: Deno, Bun, and Node >= 22.18 when installed. */
function runtimes(): [string, (file: string) => [string, string[]]][] {
  const bin = (name: string): string => join(ROOT, "node_modules", ".bin", name);
  const out: [string, (file: string) => [string, string[]]][] = [
    ["deno", (file) => [bin("deno"), ["run", "-A", "--no-check", file]]],
    ["bun", (file) => [bin("bun"), [file]]],
  ];
  if (existsSync(bin("node"))) {
    // Node runs TypeScript (type stripping) and has node:sqlite without flags from 22.18.
    const [major, minor] = execFileSync(bin("node"), ["--version"]).toString().slice(1).split(".")
      .map(Number);
    if (major > 22 || (major === 22 && minor >= 18)) {
      out.push(["node", (file) => [bin("node"), ["--no-warnings", file]]]);
    }
  }
  return out;
}

function run(
  runtime: (file: string) => [string, string[]],
  args: string[],
  input?: string,
): string {
  const [cmd, argv] = runtime(join(ROOT, "test", "_codec_child.ts"));
  return execFileSync(cmd, [...argv, ...args], {
    cwd: ROOT,
    input,
    encoding: "utf8",
    maxBuffer: 64 * 1024 * 1024,
    timeout: 60_000,
  });
}

test(
  "structured: bytes encoded on each runtime are identical and decode on every other",
  SLOW,
  () => {
    const all = runtimes();
    const [seed, count] = ["31337", "400"];
    const ours = corpus(Number(seed), Number(count))
      .map((v) => Buffer.from(structured.encode(v)).toString("base64")).join("\n") + "\n";
    for (const [name, runtime] of all) {
      const theirs = run(runtime, ["encode", seed, count]);
      assert.equal(theirs, ours, `${name} encodes the corpus to other bytes`);
      for (const [reader, readerRuntime] of all) {
        if (reader === name) continue;
        assert.equal(
          run(readerRuntime, ["check", seed, count], theirs).trim(),
          `ok ${count}`,
          `${reader} reading ${name}'s bytes`,
        );
      }
    }
  },
);

test(
  "structured: a store written on this runtime reads the same on Deno, Bun and Node",
  SLOW,
  async () => {
    await withTempDir(async (dir) => {
      const values = corpus(4242, 300);
      const store = await openStore(dir, { shards: 4 });
      await typed(store, structured).batchSet(values.map((v, i) => [`v:${i}`, v] as const));
      await store.close();
      for (const [name, runtime] of runtimes()) {
        assert.equal(run(runtime, ["read-store", dir, "4242", "300"]).trim(), "ok 300", name);
      }
    });
  },
);
