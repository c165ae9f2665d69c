// The TypeScript client's shipped JavaScript against the real cache-extension binary and the
// emulator (both from the workspace's target/debug): every call and every error class, through
// the ES module build (imported by the package's name), and the CommonJS build answering alike.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { createInterface } from "node:readline";
import { createServer } from "node:net";
import { createRequire } from "node:module";
import { fileURLToPath } from "node:url";
import path from "node:path";
import * as pr from "@profile-resolver/client";

const { Client } = pr;
// The same package as a CommonJS program require()s it: the "require" condition of its exports.
const cjs = createRequire(import.meta.url)("@profile-resolver/client");
const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../..");
const BIN = path.join(process.env.CARGO_TARGET_DIR ?? path.join(ROOT, "target"), "debug");
const TOKEN = "ts-client-token";
const MODEL = "arn:aws:bedrock:us-east-1::foundation-model/anthropic.claude-3-haiku-20240307-v1:0";
const PREFIX = "arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/";
const children = [];
let emulator, extension, client;

function freePort() {
  return new Promise((resolve, reject) => {
    const s = createServer().listen(0, "127.0.0.1", () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    }).on("error", reject);
  });
}

async function startEmulator() {
  const child = spawn(path.join(BIN, "aws-emulator"), ["--listen", "127.0.0.1:0"], { stdio: ["ignore", "pipe", "ignore"] });
  children.push(child);
  const line = await new Promise((resolve, reject) => {
    const rl = createInterface({ input: child.stdout });
    const timer = setTimeout(() => reject(new Error("the emulator did not start")), 10_000);
    rl.once("line", (l) => { clearTimeout(timer); resolve(l); });
  });
  return line.replace("listening on ", "").trim();
}

async function startExtension(emu, regions, extra = {}) {
  const port = await freePort();
  const env = {
    PATH: process.env.PATH, AWS_REGION: "us-east-1", AWS_ACCESS_KEY_ID: "testing", AWS_SECRET_ACCESS_KEY: "testing",
    AWS_CONFIG_FILE: "/dev/null", AWS_SHARED_CREDENTIALS_FILE: "/dev/null", AWS_EC2_METADATA_DISABLED: "true",
    AWS_ENDPOINT_URL_BEDROCK: emu, AWS_ENDPOINT_URL_RESOURCE_GROUPS_TAGGING_API: emu,
    PROFILE_RESOLVER_PORT: String(port), PROFILE_RESOLVER_TOKEN: TOKEN, PROFILE_RESOLVER_REGIONS: regions,
    // The first upstream call of a debug binary on a fresh machine pages in the SDK's code from a
    // cold disk: 500 ms timed it out in CI. The test is about the client, not that machine's disk.
    PROFILE_RESOLVER_SSM_PREFIX: "", PROFILE_RESOLVER_UPSTREAM_TIMEOUT_MS: "10000", ...extra,
  };
  const child = spawn(path.join(BIN, "cache-extension"), [], { env, stdio: "ignore" });
  children.push(child);
  const url = `http://127.0.0.1:${port}`;
  for (let i = 0; i < 500; i++) {
    try {
      if ((await fetch(url + "/health")).ok) return { url, port, child };
    } catch { /* not up yet */ }
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error("the extension did not come up within 10 s");
}

async function admin(method, p, body) {
  const r = await fetch(emulator + "/_emulator" + p, { method, body: body && JSON.stringify(body), headers: { "content-type": "application/json" } });
  assert.ok(r.ok, `${method} ${p}: ${r.status}`);
}

before(async () => {
  emulator = await startEmulator();
  await admin("POST", "/seed", { profiles: [
    { region: "us-east-1", name: "acme-chat", id: "acmechat0001", model: MODEL, tags: { tenant: "acme", app: "chat" } },
    { region: "us-east-1", name: "acme-batch", id: "acmebatch001", model: MODEL, tags: { tenant: "acme", app: "batch" } },
    { region: "us-east-1", name: "globex-chat", id: "globexchat01", model: MODEL, tags: { tenant: "globex", app: "chat" } },
  ] });
  extension = await startExtension(emulator, "us-east-1,eu-west-1");
  client = new Client({ env: { PROFILE_RESOLVER_PORT: String(extension.port), PROFILE_RESOLVER_TOKEN: TOKEN } });
});

after(() => {
  for (const c of children) c.kill("SIGKILL");
});

test("new Client() reads the port and the token in the extension's order", () => {
  const env = { PROFILE_RESOLVER_PORT: "1234", AWS_SESSION_TOKEN: "session", AWS_CONTAINER_AUTHORIZATION_TOKEN: "container" };
  assert.equal(new Client({ env }).url, "http://127.0.0.1:1234");
  assert.equal(new Client({ env }).token, "session");
  assert.equal(new Client({ env: { ...env, PROFILE_RESOLVER_TOKEN: "own" } }).token, "own");
  assert.equal(new Client({ env: { AWS_CONTAINER_AUTHORIZATION_TOKEN: "c" } }).token, "c");
  assert.equal(new Client({ env: {} }).url, "http://127.0.0.1:9797");
});

test("resolve answers the one profile; resolveAll lists every match", async () => {
  const one = await client.resolve({ tenant: "acme", app: "chat" });
  assert.equal(one.profile.arn, PREFIX + "acmechat0001");
  assert.deepEqual(one.profile.models, [MODEL]);
  const all = await client.resolveAll({ tenant: "acme" });
  assert.deepEqual(all.profiles.map((p) => p.arn), [PREFIX + "acmebatch001", PREFIX + "acmechat0001"]);
  assert.deepEqual((await client.resolveAll({ tenant: "nobody" })).profiles, []);
  assert.deepEqual((await client.resolve({ tenant: "acme" }, undefined, "all")).profiles, all.profiles);
  assert.equal((await client.resolveAll({})).profiles.length, 3);
  assert.equal((await client.resolve({ tenant: ["acme", "initech"], app: "batch" })).profile.arn, PREFIX + "acmebatch001");
});

test("resolveBatch keeps each result in place", async () => {
  const results = await client.resolveBatch([{ tags: { tenant: "globex" } }, { tags: { tenant: "nobody" } }, { tags: { tenant: "acme" } }]);
  assert.deepEqual(results.map((r) => r.status), [200, 404, 409]);
  assert.equal(results[0].profile.arn, PREFIX + "globexchat01");
  assert.equal(results[1].error.code, "NoMatch");
});

test("profile is the reverse lookup: the model behind an ARN", async () => {
  const answer = await client.profile(PREFIX + "globexchat01");
  assert.deepEqual(answer.profile.models, [MODEL]);
  assert.equal((await client.profile("acmebatch001", "us-east-1")).profile.name, "acme-batch");
  await assert.rejects(client.profile(PREFIX + "nosuchprofil"), pr.NoMatch);
  await assert.rejects(client.profile("not an id"), (e) => e instanceof pr.InvalidQuery && e.field === "profile");
});

test("every error code maps to its class", async () => {
  await assert.rejects(client.resolve({ tenant: "nobody" }), (e) => e instanceof pr.NoMatch && e.status === 404 && e.code === "NoMatch");
  await assert.rejects(client.resolve({ tenant: "acme" }), (e) =>
    e instanceof pr.AmbiguousMatch && e.count === 2 && e.candidates[0] === PREFIX + "acmebatch001");
  await assert.rejects(client.resolve({ tenant: "acme" }, undefined, "some"), (e) => e instanceof pr.InvalidQuery && e.field === "match");
  await assert.rejects(client.resolve({ tenant: "acme" }, "ap-south-1"), (e) => e instanceof pr.InvalidQuery && e.field === "region");
  await assert.rejects(new Client({ url: extension.url, token: "", env: {} }).resolve({ a: "b" }), pr.Unauthorized);
  await assert.rejects(new Client({ url: extension.url, token: "wrong" }).resolve({ a: "b" }), pr.Forbidden);
  await assert.rejects(client.resolve({ k: "v".repeat(70_000) }), pr.PayloadTooLarge);
  const closed = await freePort();
  await assert.rejects(new Client({ url: `http://127.0.0.1:${closed}`, token: TOKEN, timeoutMs: 500 }).resolve({ a: "b" }),
    (e) => e instanceof pr.ProfileResolverError && e.code === undefined && e.status === undefined && e.cause instanceof TypeError);
});

test("every code of the contract has its own class", () => {
  const codes = { InvalidQuery: 400, Unauthorized: 401, Forbidden: 403, NoMatch: 404, NotFound: 404, MethodNotAllowed: 405,
    RequestTimeout: 408, AmbiguousMatch: 409, PayloadTooLarge: 413, TooManyResults: 413, UriTooLong: 414, TooManyRequests: 429,
    HeadersTooLarge: 431, UpstreamUnavailable: 503 };
  for (const [code, status] of Object.entries(codes)) {
    const err = pr.errorFrom(status, { error: { code, message: "m" } });
    assert.equal(err.constructor, pr[code], code);
    assert.equal(err.name, code);
    assert.deepEqual([err.code, err.status, err.message], [code, status, "m"]);
  }
  assert.equal(pr.errorFrom(500, { error: { code: "SomethingNew", message: "m" } }).constructor, pr.ProfileResolverError);
});

test("a cold region with its upstream down is UpstreamUnavailable naming the operation, after bounded retries", async () => {
  await admin("POST", "/faults", { operation: "GetResources", down: true, regions: ["eu-west-1"] });
  // The SDK's retries of the 503s end within the extension's upstream timeout: 500 ms, not 10 s.
  const cold = await startExtension(emulator, "eu-west-1", { PROFILE_RESOLVER_UPSTREAM_TIMEOUT_MS: "500" });
  try {
    const c = new Client({ url: cold.url, token: TOKEN, retries: 1 });
    await assert.rejects(c.resolve({ tenant: "acme" }, "eu-west-1"), (e) =>
      e instanceof pr.UpstreamUnavailable && e.operation === "GetResources" && e.status === 503);
  } finally {
    cold.child.kill("SIGKILL");
    await admin("DELETE", "/faults");
  }
});

test("import loads the ES module build, require the CommonJS build, through the package's exports", () => {
  const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
  assert.equal(fileURLToPath(import.meta.resolve("@profile-resolver/client")), path.join(root, "dist", "esm", "index.js"));
  assert.equal(createRequire(import.meta.url).resolve("@profile-resolver/client"), path.join(root, "dist", "cjs", "index.js"));
  assert.deepEqual(Object.keys(cjs).filter((k) => k !== "__esModule").sort(), Object.keys(pr).sort());
});

test("the CommonJS build answers as the ES module build does", async () => {
  const env = { PROFILE_RESOLVER_PORT: String(extension.port), PROFILE_RESOLVER_TOKEN: TOKEN };
  const viaRequire = new cjs.Client({ env });
  const strip = ({ cache, ageSeconds, ...rest }) => rest; // these two move with time
  assert.deepEqual(strip(await viaRequire.resolve({ tenant: "acme", app: "chat" })), strip(await client.resolve({ tenant: "acme", app: "chat" })));
  assert.deepEqual(strip(await viaRequire.resolveAll({ tenant: "acme" })), strip(await client.resolveAll({ tenant: "acme" })));
  assert.deepEqual(strip(await viaRequire.resolve({ app: "chat" }, "us-east-1", "all")), strip(await client.resolve({ app: "chat" }, "us-east-1", "all")));
  const queries = [{ tags: { tenant: "globex" } }, { tags: { tenant: "nobody" } }];
  assert.deepEqual((await viaRequire.resolveBatch(queries)).map(strip), (await client.resolveBatch(queries)).map(strip));
  assert.deepEqual(strip(await viaRequire.profile(PREFIX + "globexchat01")), strip(await client.profile(PREFIX + "globexchat01")));
  // Each build throws its own classes; the name and the code are the same in both.
  await assert.rejects(viaRequire.resolve({ tenant: "acme" }), (e) =>
    e instanceof cjs.AmbiguousMatch && !(e instanceof pr.AmbiguousMatch) && e.name === "AmbiguousMatch" && e.code === "AmbiguousMatch" && e.count === 2);
});
