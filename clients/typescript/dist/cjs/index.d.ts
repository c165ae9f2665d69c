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
export type BatchSuccess = {
    status: 200;
    error?: undefined;
} & Partial<OneAnswer> & Partial<AllAnswer>;
/** A query of a batch that failed, in its place: the status and the error body it would have had alone. */
export type BatchFailure = {
    status: number;
    error: ErrorDetail;
};
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
export declare class ProfileResolverError extends Error {
    readonly code: string | undefined;
    readonly status: number | undefined;
    readonly detail: Partial<ErrorDetail>;
    constructor(message: string, options?: ProfileResolverErrorOptions);
    constructor(message: string, status?: number, detail?: Partial<ErrorDetail>, code?: string, options?: {
        cause?: unknown;
    });
}
export declare class InvalidQuery extends ProfileResolverError {
    get field(): string | undefined;
}
export declare class Unauthorized extends ProfileResolverError {
}
export declare class Forbidden extends ProfileResolverError {
}
export declare class NoMatch extends ProfileResolverError {
}
export declare class NotFound extends ProfileResolverError {
}
export declare class MethodNotAllowed extends ProfileResolverError {
}
export declare class RequestTimeout extends ProfileResolverError {
}
export declare class AmbiguousMatch extends ProfileResolverError {
    /** The first matching ARNs, sorted. */
    get candidates(): string[];
    /** How many profiles matched. */
    get count(): number;
}
export declare class PayloadTooLarge extends ProfileResolverError {
}
/** The answer (a `match=all` or a whole batch) would be over the resolver's answer limit; nothing
 * partial is sent. Narrow the query with more tags, or split the batch. */
export declare class TooManyResults extends ProfileResolverError {
    /** How many profiles the refused answer held. */
    get count(): number;
}
export declare class UriTooLong extends ProfileResolverError {
}
export declare class HeadersTooLarge extends ProfileResolverError {
}
export declare class TooManyRequests extends ProfileResolverError {
}
export declare class UpstreamUnavailable extends ProfileResolverError {
    /** The failing upstream operation(s), e.g. `GetResources`. */
    get operation(): string | undefined;
}
/** The exception for an error body `{"error": {...}}` answered with `status`. */
export declare function errorFrom(status: number, body: unknown): ProfileResolverError;
/** The extension reads its token from the first of these that is set. */
export declare const TOKEN_VARIABLES: readonly ["PROFILE_RESOLVER_TOKEN", "AWS_SESSION_TOKEN", "AWS_CONTAINER_AUTHORIZATION_TOKEN"];
type Env = Readonly<Record<string, string | undefined>>;
/** The token the extension expects, in the extension's own order. */
export declare function tokenFrom(env: Env): string | undefined;
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
/** A client of the extension on 127.0.0.1. `new Client()` needs no arguments inside a function with the layer. */
export declare class Client {
    readonly url: string;
    readonly token: string | undefined;
    readonly timeoutMs: number;
    readonly retries: number;
    readonly backoffMs: number;
    constructor(options?: ClientOptions);
    /** The one profile serving `tags`. Throws NoMatch, AmbiguousMatch (with candidates), ... */
    resolve(tags: Tags, region?: string, match?: "one"): Promise<OneAnswer>;
    /** Every profile serving `tags`, possibly none (the same as `resolveAll`). */
    resolve(tags: Tags, region: string | undefined, match: "all"): Promise<AllAnswer>;
    /** `match` known only at run time: narrow with `"profiles" in answer`. */
    resolve(tags: Tags, region?: string, match?: MatchMode): Promise<OneAnswer | AllAnswer>;
    /** Every profile serving `tags`, sorted by ARN, possibly none. `{}` lists every profile of the region. */
    resolveAll(tags: Tags, region?: string): Promise<AllAnswer>;
    /** Up to 100 queries; each result keeps its own status, failures in place. */
    resolveBatch(queries: readonly Query[]): Promise<BatchResult[]>;
    /** The reverse lookup: one profile's record by ARN, or by id in `region` (or the home region). */
    profile(arnOrId: string, region?: string): Promise<OneAnswer>;
    private call;
    private send;
    private transportMessage;
}
export {};
