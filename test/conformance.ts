// The conformance suite lives in ../testing/mod.ts (the `@shardkv/shardkv/testing` entry
// point); the test files run every built-in backend through that export.
export {
  conformance,
  type ConformanceOptions,
  type OpenTarget,
  type TestFunction,
} from "../testing/mod.ts";
