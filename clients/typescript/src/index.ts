/**
 * Client for profile-resolver's cache-extension on loopback: which Amazon Bedrock application
 * inference profile ARN serves these tags, and the way back (which model is behind an ARN).
 * Zero runtime dependencies: Node's fetch.
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
  models?: string[];
  tags: Record<string, string>;
}

export interface Answer {
  source: "tagging-api" | "parameter-store";
  cache: "hit" | "stale" | "miss";
  ageSeconds: number;
}

export interface OneAnswer extends Answer {
  profile: Profile;
}

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

export type BatchResult = ({ status: 200 } & Partial<OneAnswer> & Partial<AllAnswer>) | { status: number; error: ErrorDetail };

/** Any error the resolver answered, or a transport failure (`code` is then undefined). */
export class ProfileResolverError extends Error {
  readonly code: string | undefined;
  readonly status: number | undefined;
  readonly detail: Partial<ErrorDetail>;
  constructor(message: string, status?: number, detail: Partial<ErrorDetail> = {}, code?: string) {
    super(message);
    this.name = new.target.name;
    this.status = status;
    this.detail = detail;
    this.code = code;
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

const ERRORS: Record<string, new (m: string, s?: number, d?: Partial<ErrorDetail>, c?: string) => ProfileResolverError> = {
  InvalidQuery, Unauthorized, Forbidden, NoMatch, NotFound, MethodNotAllowed, RequestTimeout,
  AmbiguousMatch, PayloadTooLarge, TooManyResults, UriTooLong, HeadersTooLarge, TooManyRequests,
  UpstreamUnavailable,
};

/** The exception for an error body `{"error": {...}}` answered with `status`. */
export function errorFrom(status: number, body: unknown): ProfileResolverError {
  const detail = (body as { error?: Partial<ErrorDetail> } | null)?.error ?? {};
  const code = detail.code;
  const Cls = (code && ERRORS[code]) || ProfileResolverError;
  return new Cls(detail.message ?? `the resolver answered ${status}`, status, detail, code);
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
  resolve(tags: Tags, region?: string, match: MatchMode = "one"): Promise<OneAnswer> {
    return this.call("POST", "/v1/resolve", query(tags, region, match)) as Promise<OneAnswer>;
  }

  /** Every profile serving `tags`, possibly none. */
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
    let response: Response;
    try {
      response = await fetch(this.url + path, {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
        signal: AbortSignal.timeout(this.timeoutMs),
      });
    } catch (e) {
      throw new ProfileResolverError(`the extension could not be reached: ${(e as Error).message}`);
    }
    const text = await response.text();
    try {
      return { status: response.status, answer: text ? JSON.parse(text) : {} };
    } catch {
      throw new ProfileResolverError(`the extension answered ${response.status} with a body that is not JSON`, response.status);
    }
  }
}

function query(tags: Tags, region: string | undefined, match: MatchMode): Query {
  return region === undefined ? { tags, match } : { tags, region, match };
}
