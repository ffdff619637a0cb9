// The SQLite driver reads several keys (getEntries) from one snapshot of its shard file, alone
// or batched in one event-loop turn with point reads: another connection's commit between its
// statements changes none of the reads that share the turn's read transaction.
import assert from "node:assert/strict";
import { test } from "node:test";
import { openSqliteDriver } from "../backends/sqlite.ts";
import { openSqliteDatabase } from "../backends/_sqlite_driver.ts";
import { dec, enc, withTempDir } from "./_helpers.ts";

/** `keys`, iterated as they are, with `between()` run after the first one is yielded. */
function interleaved(keys: string[], between: () => void): string[] {
  const out = [...keys];
  Object.defineProperty(out, Symbol.iterator, {
    value: function* () {
      for (const [i, key] of keys.entries()) {
        if (i === 1) between();
        yield key;
      }
    },
  });
  return out;
}

test("sqlite: a multi-key read sees one snapshot, alone and batched with point reads", async () => {
  await withTempDir(async (dir) => {
    const file = `${dir}/shard.sqlite`;
    const d = await openSqliteDriver(file);
    const { db: other } = await openSqliteDatabase(file);
    other.exec("PRAGMA busy_timeout = 5000");
    // Another connection's commit, in SQL: values without a checksum are read unchecked.
    const commitElsewhere = (value: string) =>
      other.exec(`UPDATE kv SET value = CAST('${value}' AS BLOB), crc = NULL WHERE key = 'b'`);
    try {
      await d.apply([{ key: "a", value: enc("1") }, { key: "b", value: enc("1") }]);
      // The other connection commits after the first key of the multi-key read is read.
      const batched = [
        d.getEntry!("a"),
        d.getEntries(interleaved(["a", "b"], () => commitElsewhere("2"))),
        d.getEntry!("b"),
      ] as const;
      const [a, both, b] = await Promise.all(batched);
      assert.equal(dec(a!.value), "1");
      assert.deepEqual([...both].map(([k, e]) => [k, dec(e.value)]), [["a", "1"], ["b", "1"]]);
      assert.equal(dec(b!.value), "1", "the point read after it shares the snapshot");
      assert.equal(dec((await d.getEntry!("b"))!.value), "2", "the next turn sees the commit");

      const alone = await d.getEntries(interleaved(["a", "b"], () => commitElsewhere("3")));
      assert.equal(dec(alone.get("b")!.value), "2", "a lone multi-key read has its snapshot");
      assert.equal(dec((await d.getEntry!("b"))!.value), "3");
    } finally {
      other.close();
      await d.close();
    }
  });
});
