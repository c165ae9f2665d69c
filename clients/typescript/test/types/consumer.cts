// What a CommonJS program written in TypeScript may write, checked by types.test.mjs with tsc
// (module NodeNext, no @types/node): the "require" condition's types.
import {
  Client, ProfileResolverError, NoMatch, AmbiguousMatch, errorFrom,
  type AllAnswer, type OneAnswer, type Profile, type BatchResult, type Query,
} from "@profile-resolver/client";

const client = new Client({ timeoutMs: 1000, retries: 1 });

export async function check(match: "one" | "all"): Promise<string[]> {
  const one: OneAnswer = await client.resolve({ tenant: "acme", app: ["chat", "batch"] });
  const all: AllAnswer = await client.resolve({ tenant: "acme" }, undefined, "all");
  const listed: Profile[] = (await client.resolveAll({ tenant: [] }, "us-east-1")).profiles;
  // @ts-expect-error match=all answers a list of profiles, not one
  const wrong: OneAnswer = await client.resolve({ tenant: "acme" }, "us-east-1", "all");
  // @ts-expect-error resolveAll has no single profile
  (await client.resolveAll({ tenant: "acme" })).profile;
  const either = await client.resolve({ tenant: "acme" }, undefined, match);
  const arns: string[] = "profiles" in either ? either.profiles.map((p) => p.arn) : [either.profile.arn];
  const queries: Query[] = [{ tags: { tenant: "acme" }, match: "all" }];
  const results: BatchResult[] = await client.resolveBatch(queries);
  for (const r of results) {
    if (r.error) arns.push(r.error.code);
    else arns.push(...(r.profiles ?? []).map((p) => p.arn), r.profile?.modelIds?.[0] ?? "");
  }
  const reverse: string | undefined = (await client.profile(one.profile.arn)).profile.models?.[0];
  try {
    await client.resolve({ tenant: "acme" });
  } catch (e) {
    if (e instanceof AmbiguousMatch) arns.push(...e.candidates, String(e.count));
    else if (e instanceof ProfileResolverError && e.code === undefined) arns.push(String(e.cause));
  }
  const cause: unknown = new ProfileResolverError("unreachable", { cause: new Error("ECONNREFUSED") }).cause;
  const positional: NoMatch = new NoMatch("none", 404, { code: "NoMatch" }, "NoMatch");
  const mapped: ProfileResolverError = errorFrom(404, { error: { code: "NoMatch", message: "none" } });
  return [...arns, ...all.profiles.map((p) => p.arn), ...listed.map((p) => p.arn), String(wrong), String(reverse),
    String(cause), positional.message, mapped.message];
}
