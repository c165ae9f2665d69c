"""docs/openapi.yaml: a valid OpenAPI 3.1 document, in agreement with the SAM template and the
real extension, and Schemathesis (an independent judge of the contract and of bad input) finds
no failure against the real extension binary, with a fixed seed and bounded examples."""
import json
import subprocess
import unittest
import urllib.error
import urllib.request
from pathlib import Path

import yaml
from openapi_spec_validator import validate
from openapi_spec_validator.readers import read_from_filename

from emulator_proc import ROOT, Emulator
from extension_proc import TOKEN, Extension

SPEC = ROOT / "docs" / "openapi.yaml"
MODEL = "arn:aws:bedrock:us-east-1::foundation-model/anthropic.claude-3-haiku-20240307-v1:0"
FUNCTION_ONLY = {"/health", "/v1/refresh", "/v1/stats"}  # extension-only routes


class CfnLoader(yaml.SafeLoader):
    """Reads CloudFormation's short tags (!Ref, !Sub, ...) as plain values."""


CfnLoader.add_multi_constructor("!", lambda loader, suffix, node: None)


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
        cls.ext = Extension(cls.emu.url)

    @classmethod
    def tearDownClass(cls):
        cls.ext.stop()
        cls.emu.stop()

    def test_the_spec_is_valid_openapi_3_1(self):
        validate(self.spec)
        self.assertEqual(self.spec["openapi"], "3.1.0")

    def test_the_template_routes_are_the_specs_function_routes(self):
        template = yaml.load((ROOT / "template.yaml").read_text(), Loader=CfnLoader)
        routes = {r["Properties"]["RouteKey"].replace("{key+}", "{key}")
                  for r in template["Resources"].values() if r["Type"] == "AWS::ApiGatewayV2::Route"}
        spec = {f"{method.upper()} {path}" for path, ops in self.spec["paths"].items()
                for method in ops if path not in FUNCTION_ONLY}
        self.assertEqual(routes, spec)

    def test_every_spec_route_is_served_by_the_real_extension(self):
        for path, ops in self.spec["paths"].items():
            for method in ops:
                url = self.ext.url + path.replace("{key}", "acmechat0001")
                body = b'{"tags": {"tenant": "acme", "app": "chat"}}' if method == "post" else None
                if path == "/v1/resolve/batch":
                    body = b'{"queries": [{"tags": {"tenant": "acme"}}]}'
                req = urllib.request.Request(url, data=body, method=method.upper(),
                                             headers={"X-Profile-Resolver-Token": TOKEN})
                try:
                    with urllib.request.urlopen(req, timeout=5) as resp:
                        status, text = resp.status, resp.read()
                except urllib.error.HTTPError as e:
                    status, text = e.code, e.read()
                code = json.loads(text).get("error", {}).get("code") if text else None
                self.assertNotIn(code, ("NotFound", "MethodNotAllowed"), f"{method} {path}: {status}")

    def test_schemathesis_finds_no_failure_against_the_real_extension(self):
        # positive_data_acceptance is left out: a schema-valid query is rightly answered 404
        # NoMatch or 409 AmbiguousMatch when the organisation has no such profile.
        run = subprocess.run(
            [str(ROOT / ".venv/bin/schemathesis"), "run", str(SPEC), "--url", self.ext.url,
             "-H", f"X-Profile-Resolver-Token: {TOKEN}", "--seed", "42", "--max-examples", "30",
             "--checks", "all", "--exclude-checks", "positive_data_acceptance", "--no-color"],
            capture_output=True, text=True, timeout=600)
        self.assertEqual(run.returncode, 0, run.stdout[-8000:] + run.stderr[-2000:])
        self.assertIn("passed", run.stdout)
        self.assertNotIn("failed", run.stdout.split("SUMMARY")[-1])


if __name__ == "__main__":
    unittest.main()
