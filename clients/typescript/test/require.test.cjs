// The CommonJS build as a CommonJS program loads it: require() by the package's name, through
// package.json "exports" (the "require" condition). It talks to a stub of the extension's HTTP
// API, so it checks what this build sends and how it reads each answer; client.test.mjs runs both
// builds against the real extension.
"use strict";
const { test, before, after } = require("node:test");
const assert = require("node:assert/strict");
const http = require("node:http");
const path = require("node:path");
const pr = require("@profile-resolver/client");

const PKG = path.resolve(__dirname, "..");
const TOKEN = "cjs-client-token";
const ARN = "arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/acmechat0001";
const PROFILE = { arn: ARN, id: "acmechat0001", region: "us-east-1", accountId: "123456789012", tags: { tenant: "acme" } };
const META = { source: "tagging-api", cache: "hit", ageSeconds: 1.5 };
const requests = [];
let server, url;

function answer(req, body) {
  if (req.headers["x-profile-resolver-token"] !== TOKEN) return [401, { error: { code: "Unauthorized", message: "no token" } }];
  if (req.method === "POST" && req.url === "/v1/resolve") {
    const q = JSON.parse(body);
    if (q.tags.tenant === "nobody") return [404, { error: { code: "NoMatch", message: "no profile matches" } }];
    if (q.tags.tenant === "garbage") return [200, "this is not JSON"];
    if (q.tags.tenant === "slow") return null;
    return q.match === "all" ? [200, { profiles: [PROFILE], ...META }] : [200, { profile: PROFILE, ...META }];
  }
  if (req.method === "POST" && req.url === "/v1/resolve/batch") {
    return [200, { results: [{ status: 200, profile: PROFILE, ...META }, { status: 404, error: { code: "NoMatch", message: "none" } }] }];
  }
  if (req.method === "GET" && req.url === `/v1/profiles/${encodeURIComponent(ARN)}`) return [200, { profile: PROFILE, ...META }];
  return [404, { error: { code: "NotFound", message: "no such path" } }];
}

function closedPort() {
  return new Promise((resolve, reject) => {
    const s = http.createServer().listen(0, "127.0.0.1", () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    }).on("error", reject);
  });
}

before(async () => {
  server = http.createServer((req, res) => {
    let body = "";
    req.setEncoding("utf8");
    req.on("data", (chunk) => { body += chunk; });
    req.on("end", () => {
      requests.push({ method: req.method, url: req.url, body: body ? JSON.parse(body) : undefined });
      const out = answer(req, body);
      if (out === null) return; // never answers; the client's timeout ends it
      const [status, json] = out;
      res.writeHead(status, { "content-type": "application/json" });
      res.end(typeof json === "string" ? json : JSON.stringify(json));
    });
  });
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  url = `http://127.0.0.1:${server.address().port}`;
});

after(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
});

test("require() loads the CommonJS build through the package's exports", () => {
  assert.equal(require.resolve("@profile-resolver/client"), path.join(PKG, "dist", "cjs", "index.js"));
  assert.equal(typeof pr.Client, "function");
  assert.ok(new pr.NoMatch("m") instanceof pr.ProfileResolverError);
});

test("the CommonJS and the ES module builds expose the same API", async () => {
  const esm = await import("@profile-resolver/client");
  const names = (mod) => Object.keys(mod).filter((k) => k !== "__esModule" && k !== "default").sort();
  assert.deepEqual(names(pr), names(esm));
  for (const name of ["Client", "ProfileResolverError", "NoMatch", "AmbiguousMatch", "UpstreamUnavailable", "errorFrom", "tokenFrom", "TOKEN_VARIABLES"]) {
    assert.ok(names(pr).includes(name), name);
  }
  for (const name of names(pr)) {
    assert.equal(typeof pr[name], typeof esm[name], name);
    if (typeof pr[name] === "function") {
      assert.equal(pr[name].name, esm[name].name, name);
      assert.deepEqual(Object.getOwnPropertyNames(pr[name].prototype ?? {}).sort(),
        Object.getOwnPropertyNames(esm[name].prototype ?? {}).sort(), name);
      assert.equal(Object.getPrototypeOf(pr[name]).name, Object.getPrototypeOf(esm[name]).name, name);
    }
  }
  assert.deepEqual([...pr.TOKEN_VARIABLES], [...esm.TOKEN_VARIABLES]);
  // Two builds, two copies of each class: instanceof holds within one build only.
  assert.notEqual(pr.Client, esm.Client);
});

test("a CommonJS program resolves, lists, batches and looks up", async () => {
  const client = new pr.Client({ env: { PROFILE_RESOLVER_PORT: String(server.address().port), AWS_SESSION_TOKEN: TOKEN } });
  assert.equal(client.url, url);
  requests.length = 0;
  assert.equal((await client.resolve({ tenant: "acme" })).profile.arn, ARN);
  assert.deepEqual((await client.resolve({ tenant: "acme" }, "us-east-1", "all")).profiles, [PROFILE]);
  assert.deepEqual((await client.resolveAll({ tenant: ["acme", "globex"] })).profiles, [PROFILE]);
  const results = await client.resolveBatch([{ tags: { tenant: "acme" } }, { tags: { tenant: "nobody" } }]);
  assert.deepEqual(results.map((r) => r.status), [200, 404]);
  assert.equal((await client.profile(ARN)).profile.id, "acmechat0001");
  assert.deepEqual(requests.map((r) => `${r.method} ${r.url}`), [
    "POST /v1/resolve", "POST /v1/resolve", "POST /v1/resolve", "POST /v1/resolve/batch",
    `GET /v1/profiles/${encodeURIComponent(ARN)}`,
  ]);
  assert.deepEqual(requests.slice(0, 3).map((r) => r.body), [
    { tags: { tenant: "acme" }, match: "one" },
    { tags: { tenant: "acme" }, region: "us-east-1", match: "all" },
    { tags: { tenant: ["acme", "globex"] }, match: "all" },
  ]);
});

test("a CommonJS program gets this build's error classes", async () => {
  const client = new pr.Client({ url, token: TOKEN });
  await assert.rejects(client.resolve({ tenant: "nobody" }), (e) =>
    e instanceof pr.NoMatch && e instanceof pr.ProfileResolverError && e.code === "NoMatch" && e.status === 404);
  await assert.rejects(new pr.Client({ url, token: "", env: {} }).resolve({ tenant: "acme" }), pr.Unauthorized);
  await assert.rejects(client.resolve({ tenant: "garbage" }), (e) =>
    e instanceof pr.ProfileResolverError && e.status === 200 && e.code === undefined && e.cause instanceof SyntaxError);
});

test("transport failures keep their cause", async () => {
  // Nothing listens on that port any more: fetch's own TypeError, with the socket error as its cause.
  const closed = await closedPort();
  await assert.rejects(new pr.Client({ url: `http://127.0.0.1:${closed}`, token: TOKEN, timeoutMs: 2000 }).resolve({ tenant: "acme" }), (e) => {
    assert.ok(e instanceof pr.ProfileResolverError);
    assert.equal(e.code, undefined);
    assert.equal(e.status, undefined);
    assert.ok(e.cause instanceof TypeError, String(e.cause));
    assert.equal(e.cause.cause?.code, "ECONNREFUSED");
    assert.equal(e.message, `the extension could not be reached at http://127.0.0.1:${closed}: fetch failed: ${e.cause.cause.message}`);
    return true;
  });
  const started = Date.now();
  await assert.rejects(new pr.Client({ url, token: TOKEN, timeoutMs: 200 }).resolve({ tenant: "slow" }), (e) => {
    assert.equal(e.code, undefined);
    assert.equal(e.cause?.name, "TimeoutError");
    assert.equal(e.message, "the extension did not answer within 200 ms");
    return true;
  });
  assert.ok(Date.now() - started < 5000);
});

test("error classes take (message, { status, detail, code, cause }) and the positional form", () => {
  const cause = new Error("socket hang up");
  const e = new pr.UpstreamUnavailable("down", { status: 503, code: "UpstreamUnavailable", detail: { operation: "GetResources" }, cause });
  assert.deepEqual([e.name, e.status, e.code, e.operation, e.cause], ["UpstreamUnavailable", 503, "UpstreamUnavailable", "GetResources", cause]);
  const old = new pr.AmbiguousMatch("two", 409, { candidates: ["a", "b"], count: 2 }, "AmbiguousMatch");
  assert.deepEqual([old.status, old.code, old.count, old.candidates, "cause" in old], [409, "AmbiguousMatch", 2, ["a", "b"], false]);
  assert.equal(new pr.ProfileResolverError("m", undefined, undefined, undefined, { cause }).cause, cause);
  assert.deepEqual(new pr.ProfileResolverError("m").detail, {});
});
