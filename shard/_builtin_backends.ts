// The built-in backends by name, for openStore and the CLI (the drivers live in backends/).
export {
  type BackendName,
  BUILTIN_DRIVERS as BUILTIN_BACKENDS,
  type BuiltinInit,
  isBackendName,
  SHARD_FILE_EXTENSION,
} from "../backends/builtin.ts";
