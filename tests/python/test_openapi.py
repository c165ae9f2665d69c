"""docs/openapi.yaml: a valid OpenAPI 3.1 document, in agreement with the SAM template and the
real extension, and Schemathesis (an independent judge of the contract and of bad input) finds
no failure against the real extension binary, every check on, with several fixed seeds and
bounded examples.

What a schema cannot say is given to Schemathesis here, and
`test_each_rule_given_to_schemathesis_is_the_servers` shows the server holds to each of it:
- the deployment's allowed regions: Schemathesis reads the spec as this test's deployment
  publishes it, with `Region` narrowed to an `enum` of PROFILE_RESOLVER_REGIONS;
- the rules that span several parameters, and the size limits (docs/openapi.yaml states them in
  words): `documented_rules_hold` drops the schema-valid requests that break one, and only those;
  Schemathesis loads this module as its hooks module (SCHEMATHESIS_HOOKS) for that;
- a schema-invalid request refused for its size (413, 414, 431) is rejected as it should be."""
import json
import os
import re
import subprocess
import sys
import tempfile
import time
import unittest
import urllib.error
import urllib.parse
import urllib.request
from concurrent.futures import ThreadPoolExecutor

import yaml
from openapi_spec_validator import validate
from openapi_spec_validator.readers import read_from_filename

from emulator_proc import ROOT, Emulator
from extension_proc import TOKEN, Extension

SPEC = ROOT / "docs" / "openapi.yaml"
HERE = os.path.dirname(os.path.abspath(__file__))
MODEL = "arn:aws:bedrock:us-east-1::foundation-model/anthropic.claude-3-haiku-20240307-v1:0"
FUNCTION_ONLY = {"/health", "/v1/refresh", "/v1/stats"}  # extension-only routes
REGIONS = ("us-east-1", "eu-west-1")  # the allow-list of the extension under test
# Each seed is its own Schemathesis process with every check on; 42 is the historical seed and
# 90210 found the empty region and the empty tags of issue #39.
SEEDS = (42, 90210, 7, 1337, 2024)
MAX_EXAMPLES = 100  # per operation and seed
RUN_TIMEOUT = 240  # seconds, per Schemathesis process
MAX_BODY = 64 * 1024  # the extension's limits (docs/api.md)
MAX_TARGET = 16 * 1024
MAX_KEYS = 50


def documented_rules_hold(case):
    """False for a schema-valid request that breaks a rule docs/openapi.yaml states in words:
    the keys of `GET /v1/resolve` across parameters, a reverse lookup's region beside an ARN,
    and the request size limits. Negative cases are left alone: they are meant to break rules."""
    meta = case.meta
    if meta is None or not meta.generation.mode.is_positive:
        return True
    label = case.operation.label
    query = case.query or {}
    if label == "GET /v1/resolve":
        valued = [k[len("tag:"):] for k in query if k.startswith("tag:")]
        any_value = query.get("tag-key") or []
        any_value = [any_value] if isinstance(any_value, str) else list(any_value)
        keys = set(valued) | set(any_value)
        if not keys and query.get("match") != "all":
            return False
        if len(keys) > MAX_KEYS or set(valued) & set(any_value):
            return False
    if label == "GET /v1/profiles/{key}":
        # The coverage phase hands over the key percent-encoded already.
        key = urllib.parse.unquote((case.path_parameters or {}).get("key", ""))
        region = query.get("region")
        if key.startswith("arn:") and region is not None and region != key.split(":")[3]:
            return False
    target = case.formatted_path + "?" + urllib.parse.urlencode(query, doseq=True)
    if len(urllib.parse.quote(target, safe="/?&=%")) > MAX_TARGET:
        return False
    if isinstance(case.body, (dict, list)):
        if len(json.dumps(case.body).encode()) > MAX_BODY:
            return False
    return True


if os.environ.get("SCHEMATHESIS_HOOKS") == __name__:  # loaded by the Schemathesis CLI
    import schemathesis

    @schemathesis.hook
    def filter_case(context, case):
        return documented_rules_hold(case)


def deployment_spec(spec, regions):
    """The spec as a deployment with these allowed regions publishes it: `Region` is an enum of
    them, and so is the region inside a profile ARN."""
    spec = json.loads(json.dumps(spec))
    schemas = spec["components"]["schemas"]
    region_re = schemas["Region"]["pattern"].removeprefix("^").removesuffix("$")
    schemas["Region"] = {"type": "string", "enum": list(regions)}
    key = schemas["ProfileKey"]
    assert key["pattern"].count(region_re) == 1, key["pattern"]
    key["pattern"] = key["pattern"].replace(region_re, "(" + "|".join(map(re.escape, regions)) + ")")
    key.pop("examples", None)
    return spec


class CfnLoader(yaml.SafeLoader):
    """Reads CloudFormation's short tags (!Ref, !Sub, ...) as plain values."""


CfnLoader.add_multi_constructor("!", lambda loader, suffix, node: None)


def call(url, method="GET", body=None):
    req = urllib.request.Request(url, data=body, method=method, headers={"X-Profile-Resolver-Token": TOKEN})
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


class OpenApi(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.spec, _ = read_from_filename(str(SPEC))
        cls.emu = Emulator()
        cls.emu.admin("POST", "/seed", {"profiles": [
            {"region": "us-east-1", "name": "acme-chat", "id": "acmechat0001", "model": MODEL,
             "tags": {"tenant": "acme", "app": "chat"}},
            {"region": "us-east-1", "name": "acme-batch", "id": "acmebatch001", "model": MODEL,
             "tags": {"tenant": "acme", "app": "batch"}},
        ]})
        cls.ext = Extension(cls.emu.url, regions=",".join(REGIONS))

    @classmethod
    def tearDownClass(cls):
        cls.ext.stop()
        cls.emu.stop()

    def test_the_spec_is_valid_openapi_3_1(self):
        validate(self.spec)
        self.assertEqual(self.spec["openapi"], "3.1.0")
        validate(deployment_spec(self.spec, REGIONS))

    def test_the_template_routes_are_the_specs_function_routes(self):
        template = yaml.load((ROOT / "template.yaml").read_text(), Loader=CfnLoader)
        routes = {r["Properties"]["RouteKey"].replace("{key+}", "{key}")
                  for r in template["Resources"].values() if r["Type"] == "AWS::ApiGatewayV2::Route"}
        spec = {f"{method.upper()} {path}" for path, ops in self.spec["paths"].items()
                for method in ops if path not in FUNCTION_ONLY}
        self.assertEqual(routes, spec)

    def test_the_servers_and_security_tell_the_extension_from_api_gateway(self):
        loopback, gateway = (s["url"] for s in self.spec["servers"])
        self.assertTrue(loopback.startswith("http://127.0.0.1:"), loopback)
        self.assertEqual(gateway, "https://{apiId}.execute-api.{region}.amazonaws.com")
        schemes = self.spec["components"]["securitySchemes"]
        self.assertEqual(schemes["token"], schemes["token"] | {"type": "apiKey", "in": "header",
                                                             "name": "X-Profile-Resolver-Token"})
        self.assertEqual(schemes["sigv4"], schemes["sigv4"] | {"type": "apiKey", "in": "header",
                                                             "name": "Authorization"})
        self.assertEqual(schemes["jwt"], schemes["jwt"] | {"type": "http", "scheme": "bearer",
                                                         "bearerFormat": "JWT"})
        for path, ops in self.spec["paths"].items():
            for method, op in ops.items():
                names = {name for requirement in op.get("security", self.spec["security"])
                         for name in requirement}
                if path in FUNCTION_ONLY:
                    # Served on the loopback server alone, with the token or without auth.
                    self.assertEqual([s["url"] for s in op["servers"]], [loopback], path)
                    self.assertLessEqual(names, {"token"}, path)
                else:
                    self.assertNotIn("servers", op, path)
                    self.assertEqual(names, {"token", "sigv4", "jwt"}, f"{method} {path}")

    def test_every_429_and_503_documents_retry_after(self):
        components = self.spec["components"]
        header = components["headers"]["RetryAfter"]
        self.assertEqual(header["schema"]["type"], "integer")
        for path, ops in self.spec["paths"].items():
            for method, op in ops.items():
                self.assertIn("429", op["responses"], f"{method} {path}")
                for status in ("429", "503"):
                    response = op["responses"].get(status)
                    if response is None:
                        continue
                    if "$ref" in response:
                        response = components["responses"][response["$ref"].rsplit("/", 1)[1]]
                    self.assertEqual(response["headers"]["Retry-After"],
                                     {"$ref": "#/components/headers/RetryAfter"}, f"{method} {path} {status}")

    def test_every_spec_route_is_served_by_the_real_extension(self):
        for path, ops in self.spec["paths"].items():
            for method in ops:
                url = self.ext.url + path.replace("{key}", "acmechat0001")
                body = b'{"tags": {"tenant": "acme", "app": "chat"}}' if method == "post" else None
                if path == "/v1/resolve/batch":
                    body = b'{"queries": [{"tags": {"tenant": "acme"}}]}'
                status, text = call(url, method.upper(), body)
                code = json.loads(text).get("error", {}).get("code") if text else None
                self.assertNotIn(code, ("NotFound", "MethodNotAllowed"), f"{method} {path}: {status}")

    def test_any_tag_key_resolves_by_get_as_the_spec_describes_it(self):
        # `tags` is an exploded form object: each property is a query parameter of its own.
        params = self.spec["paths"]["/v1/resolve"]["get"]["parameters"]
        tags = next(p for p in params if p.get("name") == "tags")
        self.assertEqual((tags["in"], tags["style"], tags["explode"]), ("query", "form", True))
        query = urllib.parse.urlencode({"tag:tenant": "acme", "tag:app": "chat", "tag-key": "nope"})
        status, text = call(f"{self.ext.url}/v1/resolve?{query}")
        self.assertEqual(status, 404, text)
        query = urllib.parse.urlencode({"tag:tenant": "acme", "tag:app": "chat"})
        status, text = call(f"{self.ext.url}/v1/resolve?{query}")
        self.assertEqual((status, json.loads(text)["profile"]["id"]), (200, "acmechat0001"), text)

    def test_each_rule_given_to_schemathesis_is_the_servers(self):
        base = self.ext.url
        arn = "arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/acmechat0001"
        many = "&".join(f"tag:k{i}=v" for i in range(MAX_KEYS + 1))
        refused = {
            "no key with match=one": "/v1/resolve?region=us-east-1&match=one",
            "no key, match left out": "/v1/resolve",
            f"over {MAX_KEYS} keys": "/v1/resolve?" + many + "&match=all",
            f"over {MAX_KEYS} keys across both forms": "/v1/resolve?" + many.replace("tag:k0=v", "tag-key=k0"),
            "one key with values and with any value": "/v1/resolve?tag:tenant=acme&tag-key=tenant",
            "an ARN and another region": f"/v1/profiles/{urllib.parse.quote(arn, safe='')}?region=eu-west-1",
            "a region not allowed": "/v1/resolve?tag:tenant=acme&region=ap-south-1",
            "a target over 16 KiB": "/v1/resolve?tag:tenant=" + "a" * MAX_TARGET,
        }
        for rule, target in refused.items():
            status, text = call(base + target)
            self.assertIn(status, (400, 414), f"{rule}: {status} {text[:200]!r}")
        status, _ = call(base + "/v1/resolve", "POST", json.dumps({"tags": {"k": "v" * MAX_BODY}}).encode())
        self.assertEqual(status, 413, "a body over 64 KiB")
        # And what the rules leave in is answered.
        for target in ("/v1/resolve?match=all", "/v1/resolve?tag-key=tenant&match=all",
                       f"/v1/profiles/{urllib.parse.quote(arn, safe='')}?region=us-east-1"):
            status, text = call(base + target)
            self.assertEqual(status, 200, f"{target}: {text[:200]!r}")

    def test_schemathesis_finds_no_failure_against_the_real_extension(self):
        # Every check, positive_data_acceptance included: what the spec calls valid is accepted.
        with tempfile.TemporaryDirectory() as tmp:
            spec_path = os.path.join(tmp, "openapi.json")
            spec = deployment_spec(self.spec, REGIONS)
            # Profiles that exist, so that the examples phase also sees a reverse lookup answer.
            spec["components"]["schemas"]["ProfileKey"]["examples"] = [
                "acmechat0001", "arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/acmebatch001"]
            with open(spec_path, "w") as f:
                json.dump(spec, f)
            env = {**os.environ, "SCHEMATHESIS_HOOKS": __name__,
                   "PYTHONPATH": os.pathsep.join(filter(None, [HERE, os.environ.get("PYTHONPATH")]))}

            # The size limits are rejections too: a negative case past one is refused with 413
            # or 414 before its content is read.
            config_path = os.path.join(tmp, "schemathesis.toml")
            with open(config_path, "w") as f:
                f.write('[checks.negative_data_rejection]\nexpected-statuses = ["400", "401", "403", '
                        '"404", "405", "406", "409", "413", "414", "415", "422", "428", "429", "431", '
                        '"5xx"]\n')

            def run(seed):
                report = os.path.join(tmp, f"seed-{seed}.yaml")
                started = time.monotonic()
                proc = subprocess.run(
                    [str(ROOT / ".venv/bin/schemathesis"), "--config-file", config_path, "run", spec_path,
                     "--url", self.ext.url,
                     "-H", f"X-Profile-Resolver-Token: {TOKEN}", "--seed", str(seed),
                     "--max-examples", str(MAX_EXAMPLES), "--checks", "all",
                     "--generation-database", "none", "--no-color",
                     "--report", "vcr", "--report-vcr-path", report],
                    capture_output=True, text=True, timeout=RUN_TIMEOUT, cwd=tmp, env=env)
                return seed, proc, report, time.monotonic() - started

            workers = min(len(SEEDS), max(2, os.cpu_count() or 2))
            with ThreadPoolExecutor(max_workers=workers) as pool:
                runs = list(pool.map(run, SEEDS))
            unknown_keys = set()
            for seed, proc, report, seconds in runs:
                with self.subTest(seed=seed):
                    summary = proc.stdout.split("SUMMARY")[-1]
                    self.assertEqual(proc.returncode, 0, f"seed {seed}:\n{proc.stdout[-8000:]}{proc.stderr[-2000:]}")
                    self.assertIn("passed", proc.stdout)
                    self.assertNotIn("failed", summary)
                    cases = re.search(r"\d+ generated[^\n]*", summary)
                    print(f"seed {seed}: {cases[0] if cases else '?'} in {seconds:.1f} s", file=sys.stderr)
                if os.path.exists(report):
                    unknown_keys |= tag_keys_sent(report) - {"tenant", "app"}
            # The GET form is open-ended: Schemathesis sent tag keys the spec never names.
            self.assertGreater(len(unknown_keys), 10, unknown_keys)


def tag_keys_sent(cassette):
    """The `tag:KEY` parameters of the GET /v1/resolve requests in a Schemathesis VCR cassette."""
    keys = set()
    with open(cassette) as f:
        for line in f:
            found = re.match(r"\s*uri: '([^']*/v1/resolve\?[^']*)'", line)
            if found:
                for name, _ in urllib.parse.parse_qsl(urllib.parse.urlsplit(found[1]).query, keep_blank_values=True):
                    if name.startswith("tag:"):
                        keys.add(name[len("tag:"):])
    return keys


if __name__ == "__main__":
    unittest.main()
