/**
 * Client for profile-resolver's cache-extension on loopback: which Amazon Bedrock application
 * inference profile ARN serves these tags, and the way back (which model is behind an ARN).
 * Zero runtime dependencies: Node's fetch. Shipped as ES modules and as CommonJS, with types.
 */

export type TagValue = string | readonly string[];
export type Tags = Readonly<Record<string, TagValue>>;
export type MatchMode = "one" | "all";

export interface Profile {
  arn: string;
  id?: string;
  name?: string;
  region: string;
  accountId: string;
  status?: string;
  /** The underlying model ARNs; absent for a route, or when Bedrock could not be read. */
  models?: string[];
  /** Each underlying model's plain id, once, in the order of `models`; absent when `models` is. */
  modelIds?: string[];
  tags: Record<string, string>;
}

export interface Answer {
  source: "tagging-api" | "parameter-store";
  cache: "hit" | "stale" | "miss";
  ageSeconds: number;
}

/** The answer of `match=one`, and of the reverse lookup. */
export interface OneAnswer extends Answer {
  profile: Profile;
}

/** The answer of `match=all`: every matching profile, sorted by ARN, possibly none. */
export interface AllAnswer extends Answer {
  profiles: Profile[];
}

export interface Query {
  tags: Tags;
  region?: string;
  match?: MatchMode;
}

export interface ErrorDetail {
  code: string;
  message: string;
  field?: string;
  candidates?: string[];
  count?: number;
  operation?: string;
}

/** A query of a batch that succeeded: `profile` for `match=one`, `profiles` for `match=all`. */
export type BatchSuccess = { status: 200; error?: undefined } & Partial<OneAnswer> & Partial<AllAnswer>;
/** A query of a batch that failed, in its place: the status and the error body it would have had alone. */
export type BatchFailure = { status: number; error: ErrorDetail };
/** One result of `resolveBatch`; `if (result.error)` tells a failure from a success. */
export type BatchResult = BatchSuccess | BatchFailure;

/** The second argument of an error class's constructor, in the style of `new Error(message, { cause })`. */
export interface ProfileResolverErrorOptions {
  /** The HTTP status the resolver answered; undefined for a transport failure. */
  status?: number;
  /** The error body's fields (`code`, `message`, `field`, `candidates`, `count`, `operation`). */
  detail?: Partial<ErrorDetail>;
  /** The error code; undefined for a transport failure. */
  code?: string;
  /** What caused it, e.g. the error `fetch` threw. */
  cause?: unknown;
}

/** Any error the resolver answered, or a transport failure (`code` is then undefined, `cause` holds the original error). */
export class ProfileResolverError extends Error {
  readonly code: string | undefined;
  readonly status: number | undefined;
  readonly detail: Partial<ErrorDetail>;
  constructor(message: string, options?: ProfileResolverErrorOptions);
  constructor(message: string, status?: number, detail?: Partial<ErrorDetail>, code?: string, options?: { cause?: unknown });
  constructor(
    message: string,
    statusOrOptions?: number | ProfileResolverErrorOptions,
    detail?: Partial<ErrorDetail>,
    code?: string,
    options?: { cause?: unknown },
  ) {
    const o: ProfileResolverErrorOptions =
      typeof statusOrOptions === "object" && statusOrOptions !== null
        ? statusOrOptions
        : { ...options, status: statusOrOptions, detail, code };
    super(message, "cause" in o ? { cause: o.cause } : undefined);
    this.name = new.target.name;
    this.status = o.status;
    this.detail = o.detail ?? {};
    this.code = o.code;
  }
}

export class InvalidQuery extends ProfileResolverError {
  get field(): string | undefined {
    return this.detail.field;
  }
}
export class Unauthorized extends ProfileResolverError {}
export class Forbidden extends ProfileResolverError {}
export class NoMatch extends ProfileResolverError {}
export class NotFound extends ProfileResolverError {}
export class MethodNotAllowed extends ProfileResolverError {}
export class RequestTimeout extends ProfileResolverError {}
export class AmbiguousMatch extends ProfileResolverError {
  /** The first matching ARNs, sorted. */
  get candidates(): string[] {
    return this.detail.candidates ?? [];
  }
  /** How many profiles matched. */
  get count(): number {
    return this.detail.count ?? this.candidates.length;
  }
}
export class PayloadTooLarge extends ProfileResolverError {}
/** The answer (a `match=all` or a whole batch) would be over the resolver's answer limit; nothing
 * partial is sent. Narrow the query with more tags, or split the batch. */
export class TooManyResults extends ProfileResolverError {
  /** How many profiles the refused answer held. */
  get count(): number {
    return this.detail.count ?? 0;
  }
}
export class UriTooLong extends ProfileResolverError {}
export class HeadersTooLarge extends ProfileResolverError {}
export class TooManyRequests extends ProfileResolverError {}
export class UpstreamUnavailable extends ProfileResolverError {
  /** The failing upstream operation(s), e.g. `GetResources`. */
  get operation(): string | undefined {
    return this.detail.operation;
  }
}

const ERRORS: Record<string, typeof ProfileResolverError> = {
  InvalidQuery, Unauthorized, Forbidden, NoMatch, NotFound, MethodNotAllowed, RequestTimeout,
  AmbiguousMatch, PayloadTooLarge, TooManyResults, UriTooLong, HeadersTooLarge, TooManyRequests,
  UpstreamUnavailable,
};

/** The exception for an error body `{"error": {...}}` answered with `status`. */
export function errorFrom(status: number, body: unknown): ProfileResolverError {
  const detail = (body as { error?: Partial<ErrorDetail> } | null)?.error ?? {};
  const code = detail.code;
  const Cls = (code && ERRORS[code]) || ProfileResolverError;
  return new Cls(detail.message ?? `the resolver answered ${status}`, { status, detail, code });
}

/** The extension reads its token from the first of these that is set. */
export const TOKEN_VARIABLES = ["PROFILE_RESOLVER_TOKEN", "AWS_SESSION_TOKEN", "AWS_CONTAINER_AUTHORIZATION_TOKEN"] as const;

type Env = Readonly<Record<string, string | undefined>>;

/** The token the extension expects, in the extension's own order. */
export function tokenFrom(env: Env): string | undefined {
  for (const name of TOKEN_VARIABLES) {
    const value = env[name];
    if (value) return value;
  }
  return undefined;
}

export interface ClientOptions {
  /** `http://127.0.0.1:PORT`; by default the port is `PROFILE_RESOLVER_PORT`, else 9797. */
  url?: string;
  /** By default read from the environment, as the extension does. */
  token?: string;
  /**
   * Per request, in milliseconds (default 5000: more than the extension's wait for a cold
   * region's first load, its upstream timeout of 2000 by default, so that wait ends in the
   * extension's own UpstreamUnavailable rather than a timeout here).
   */
  timeoutMs?: number;
  /** Retries of 429 and 503, with full jitter (default 2). */
  retries?: number;
  /** The first retry waits up to this many milliseconds, doubling (default 50). */
  backoffMs?: number;
  /** The environment to read (default `process.env`). */
  env?: Env;
}

const RETRIED = new Set([429, 503]);

/** A client of the extension on 127.0.0.1. `new Client()` needs no arguments inside a function with the layer. */
export class Client {
  readonly url: string;
  readonly token: string | undefined;
  readonly timeoutMs: number;
  readonly retries: number;
  readonly backoffMs: number;

  constructor(options: ClientOptions = {}) {
    const env: Env = options.env ?? (globalThis as { process?: { env: Env } }).process?.env ?? {};
    this.url = (options.url ?? `http://127.0.0.1:${env.PROFILE_RESOLVER_PORT || "9797"}`).replace(/\/+$/, "");
    this.token = options.token ?? tokenFrom(env);
    this.timeoutMs = options.timeoutMs ?? 5000;
    this.retries = Math.max(0, options.retries ?? 2);
    this.backoffMs = options.backoffMs ?? 50;
  }

  /** The one profile serving `tags`. Throws NoMatch, AmbiguousMatch (with candidates), ... */
  resolve(tags: Tags, region?: string, match?: "one"): Promise<OneAnswer>;
  /** Every profile serving `tags`, possibly none (the same as `resolveAll`). */
  resolve(tags: Tags, region: string | undefined, match: "all"): Promise<AllAnswer>;
  /** `match` known only at run time: narrow with `"profiles" in answer`. */
  resolve(tags: Tags, region?: string, match?: MatchMode): Promise<OneAnswer | AllAnswer>;
  resolve(tags: Tags, region?: string, match: MatchMode = "one"): Promise<OneAnswer | AllAnswer> {
    return this.call("POST", "/v1/resolve", query(tags, region, match)) as Promise<OneAnswer | AllAnswer>;
  }

  /** Every profile serving `tags`, sorted by ARN, possibly none. `{}` lists every profile of the region. */
  resolveAll(tags: Tags, region?: string): Promise<AllAnswer> {
    return this.call("POST", "/v1/resolve", query(tags, region, "all")) as Promise<AllAnswer>;
  }

  /** Up to 100 queries; each result keeps its own status, failures in place. */
  async resolveBatch(queries: readonly Query[]): Promise<BatchResult[]> {
    const answer = (await this.call("POST", "/v1/resolve/batch", { queries })) as { results: BatchResult[] };
    return answer.results;
  }

  /** The reverse lookup: one profile's record by ARN, or by id in `region` (or the home region). */
  profile(arnOrId: string, region?: string): Promise<OneAnswer> {
    let path = `/v1/profiles/${encodeURIComponent(arnOrId)}`;
    if (region !== undefined) path += `?region=${encodeURIComponent(region)}`;
    return this.call("GET", path) as Promise<OneAnswer>;
  }

  private async call(method: string, path: string, body?: unknown): Promise<unknown> {
    for (let attempt = 0; ; attempt++) {
      const { status, answer } = await this.send(method, path, body);
      if (status === 200) return answer;
      if (RETRIED.has(status) && attempt < this.retries) {
        await new Promise((r) => setTimeout(r, Math.random() * this.backoffMs * 2 ** attempt));
        continue;
      }
      throw errorFrom(status, answer);
    }
  }

  private async send(method: string, path: string, body?: unknown): Promise<{ status: number; answer: unknown }> {
    const headers: Record<string, string> = { accept: "application/json" };
    if (body !== undefined) headers["content-type"] = "application/json";
    if (this.token) headers["x-profile-resolver-token"] = this.token;
    let status: number;
    let text: string;
    try {
      const response = await fetch(this.url + path, {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
        signal: AbortSignal.timeout(this.timeoutMs),
      });
      status = response.status;
      text = await response.text();
    } catch (cause) {
      throw new ProfileResolverError(this.transportMessage(cause), { cause });
    }
    try {
      return { status, answer: text ? JSON.parse(text) : {} };
    } catch (cause) {
      throw new ProfileResolverError(`the extension answered ${status} with a body that is not JSON`, { status, cause });
    }
  }

  private transportMessage(cause: unknown): string {
    const e = cause as { name?: unknown; message?: unknown; cause?: { message?: unknown } } | null;
    if (e?.name === "TimeoutError") return `the extension did not answer within ${this.timeoutMs} ms`;
    const why = [e?.message, e?.cause?.message].filter((m) => typeof m === "string" && m).join(": ");
    return `the extension could not be reached at ${this.url}${why ? `: ${why}` : ""}`;
  }
}

function query(tags: Tags, region: string | undefined, match: MatchMode): Query {
  return region === undefined ? { tags, match } : { tags, region, match };
}
