// The shipped declarations as TypeScript programs see them: an ES module (.mts) and a CommonJS
// (.cts) consumer compile with module NodeNext and no @types/node, each through its own
// condition of the package's exports, and the overloads type what each call answers.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { createRequire } from "node:module";
import { fileURLToPath } from "node:url";
import path from "node:path";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");

test("TypeScript consumers, ES module and CommonJS, type-check against the shipped declarations", () => {
  const tsc = createRequire(import.meta.url).resolve("typescript/bin/tsc");
  const run = spawnSync(process.execPath, [tsc, "-p", path.join(ROOT, "test", "types"), "--listFiles"], {
    cwd: ROOT, encoding: "utf8", timeout: 120_000,
  });
  assert.equal(run.error, undefined);
  assert.equal(run.status, 0, run.stdout + run.stderr);
  const files = run.stdout.split("\n").map((f) => path.resolve(f.trim()));
  assert.ok(files.includes(path.join(ROOT, "dist", "esm", "index.d.ts")), run.stdout);
  assert.ok(files.includes(path.join(ROOT, "dist", "cjs", "index.d.ts")), run.stdout);
});
