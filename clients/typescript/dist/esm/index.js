/**
 * Client for profile-resolver's cache-extension on loopback: which Amazon Bedrock application
 * inference profile ARN serves these tags, and the way back (which model is behind an ARN).
 * Zero runtime dependencies: Node's fetch. Shipped as ES modules and as CommonJS, with types.
 */
/** Any error the resolver answered, or a transport failure (`code` is then undefined, `cause` holds the original error). */
export class ProfileResolverError extends Error {
    code;
    status;
    detail;
    constructor(message, statusOrOptions, detail, code, options) {
        const o = typeof statusOrOptions === "object" && statusOrOptions !== null
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
    get field() {
        return this.detail.field;
    }
}
export class Unauthorized extends ProfileResolverError {
}
export class Forbidden extends ProfileResolverError {
}
export class NoMatch extends ProfileResolverError {
}
export class NotFound extends ProfileResolverError {
}
export class MethodNotAllowed extends ProfileResolverError {
}
export class RequestTimeout extends ProfileResolverError {
}
export class AmbiguousMatch extends ProfileResolverError {
    /** The first matching ARNs, sorted. */
    get candidates() {
        return this.detail.candidates ?? [];
    }
    /** How many profiles matched. */
    get count() {
        return this.detail.count ?? this.candidates.length;
    }
}
export class PayloadTooLarge extends ProfileResolverError {
}
/** The answer (a `match=all` or a whole batch) would be over the resolver's answer limit; nothing
 * partial is sent. Narrow the query with more tags, or split the batch. */
export class TooManyResults extends ProfileResolverError {
    /** How many profiles the refused answer held. */
    get count() {
        return this.detail.count ?? 0;
    }
}
export class UriTooLong extends ProfileResolverError {
}
export class HeadersTooLarge extends ProfileResolverError {
}
export class TooManyRequests extends ProfileResolverError {
}
export class UpstreamUnavailable extends ProfileResolverError {
    /** The failing upstream operation(s), e.g. `GetResources`. */
    get operation() {
        return this.detail.operation;
    }
}
const ERRORS = {
    InvalidQuery, Unauthorized, Forbidden, NoMatch, NotFound, MethodNotAllowed, RequestTimeout,
    AmbiguousMatch, PayloadTooLarge, TooManyResults, UriTooLong, HeadersTooLarge, TooManyRequests,
    UpstreamUnavailable,
};
/** The exception for an error body `{"error": {...}}` answered with `status`. */
export function errorFrom(status, body) {
    const detail = body?.error ?? {};
    const code = detail.code;
    const Cls = (code && ERRORS[code]) || ProfileResolverError;
    return new Cls(detail.message ?? `the resolver answered ${status}`, { status, detail, code });
}
/** The extension reads its token from the first of these that is set. */
export const TOKEN_VARIABLES = ["PROFILE_RESOLVER_TOKEN", "AWS_SESSION_TOKEN", "AWS_CONTAINER_AUTHORIZATION_TOKEN"];
/** The token the extension expects, in the extension's own order. */
export function tokenFrom(env) {
    for (const name of TOKEN_VARIABLES) {
        const value = env[name];
        if (value)
            return value;
    }
    return undefined;
}
const RETRIED = new Set([429, 503]);
/** A client of the extension on 127.0.0.1. `new Client()` needs no arguments inside a function with the layer. */
export class Client {
    url;
    token;
    timeoutMs;
    retries;
    backoffMs;
    constructor(options = {}) {
        const env = options.env ?? globalThis.process?.env ?? {};
        this.url = (options.url ?? `http://127.0.0.1:${env.PROFILE_RESOLVER_PORT || "9797"}`).replace(/\/+$/, "");
        this.token = options.token ?? tokenFrom(env);
        this.timeoutMs = options.timeoutMs ?? 5000;
        this.retries = Math.max(0, options.retries ?? 2);
        this.backoffMs = options.backoffMs ?? 50;
    }
    resolve(tags, region, match = "one") {
        return this.call("POST", "/v1/resolve", query(tags, region, match));
    }
    /** Every profile serving `tags`, sorted by ARN, possibly none. `{}` lists every profile of the region. */
    resolveAll(tags, region) {
        return this.call("POST", "/v1/resolve", query(tags, region, "all"));
    }
    /** Up to 100 queries; each result keeps its own status, failures in place. */
    async resolveBatch(queries) {
        const answer = (await this.call("POST", "/v1/resolve/batch", { queries }));
        return answer.results;
    }
    /** The reverse lookup: one profile's record by ARN, or by id in `region` (or the home region). */
    profile(arnOrId, region) {
        let path = `/v1/profiles/${encodeURIComponent(arnOrId)}`;
        if (region !== undefined)
            path += `?region=${encodeURIComponent(region)}`;
        return this.call("GET", path);
    }
    async call(method, path, body) {
        for (let attempt = 0;; attempt++) {
            const { status, answer } = await this.send(method, path, body);
            if (status === 200)
                return answer;
            if (RETRIED.has(status) && attempt < this.retries) {
                await new Promise((r) => setTimeout(r, Math.random() * this.backoffMs * 2 ** attempt));
                continue;
            }
            throw errorFrom(status, answer);
        }
    }
    async send(method, path, body) {
        const headers = { accept: "application/json" };
        if (body !== undefined)
            headers["content-type"] = "application/json";
        if (this.token)
            headers["x-profile-resolver-token"] = this.token;
        let status;
        let text;
        try {
            const response = await fetch(this.url + path, {
                method,
                headers,
                body: body === undefined ? undefined : JSON.stringify(body),
                signal: AbortSignal.timeout(this.timeoutMs),
            });
            status = response.status;
            text = await response.text();
        }
        catch (cause) {
            throw new ProfileResolverError(this.transportMessage(cause), { cause });
        }
        try {
            return { status, answer: text ? JSON.parse(text) : {} };
        }
        catch (cause) {
            throw new ProfileResolverError(`the extension answered ${status} with a body that is not JSON`, { status, cause });
        }
    }
    transportMessage(cause) {
        const e = cause;
        if (e?.name === "TimeoutError")
            return `the extension did not answer within ${this.timeoutMs} ms`;
        const why = [e?.message, e?.cause?.message].filter((m) => typeof m === "string" && m).join(": ");
        return `the extension could not be reached at ${this.url}${why ? `: ${why}` : ""}`;
    }
}
function query(tags, region, match) {
    return region === undefined ? { tags, match } : { tags, region, match };
}
