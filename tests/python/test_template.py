"""Offline checks of template.yaml: cfn-lint and `sam validate --lint` are clean, the template
transformed by aws-sam-translator has the expected resources and least-privilege IAM (no
wildcard action), and `sam build` (no container) produces the layer and the function."""
import json
import os
import shutil
import stat
import subprocess
import unittest
from pathlib import Path

from samtranslator.translator.transform import transform
from samtranslator.yaml_helper import yaml_parse

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "template.yaml"
VENV_BIN = Path(os.environ.get("VIRTUAL_ENV", ROOT / ".venv")) / "bin"


class NoManagedPolicies:
    def load(self):
        return {}


def transformed(**params):
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    template = yaml_parse(TEMPLATE.read_text())
    # As `sam package` would: local code paths become S3 locations.
    resources = template["Resources"]
    resources["ResolverFunction"]["Properties"]["CodeUri"] = "s3://bucket/function.zip"
    resources["CacheExtensionLayer"]["Properties"]["ContentUri"] = "s3://bucket/layer.zip"
    return transform(template, params, NoManagedPolicies())


def of_type(out, kind):
    return {k: v for k, v in out["Resources"].items() if v["Type"] == kind}


def statements(out):
    for role in of_type(out, "AWS::IAM::Role").values():
        for policy in role["Properties"].get("Policies", []):
            yield from policy["PolicyDocument"]["Statement"]


class Template(unittest.TestCase):
    def run_tool(self, *args):
        env = dict(os.environ, SAM_CLI_TELEMETRY="0", AWS_DEFAULT_REGION="us-east-1")
        return subprocess.run([str(VENV_BIN / args[0]), *args[1:]], cwd=ROOT, env=env,
                              capture_output=True, text=True, timeout=1800)

    def test_cfn_lint_is_clean(self):
        result = self.run_tool("cfn-lint", str(TEMPLATE))
        self.assertEqual(result.returncode, 0, result.stdout + result.stderr)

    def test_sam_validate_lint_is_clean(self):
        result = self.run_tool("sam", "validate", "--lint", "--template-file", str(TEMPLATE))
        self.assertEqual(result.returncode, 0, result.stdout + result.stderr)

    def test_the_function_runs_on_al2023_arm64_with_the_layer_and_the_contract_environment(self):
        out = transformed()
        (fn,) = of_type(out, "AWS::Lambda::Function").values()
        props = fn["Properties"]
        self.assertEqual(props["Runtime"], "provided.al2023")
        self.assertEqual(props["Handler"], "bootstrap")
        self.assertEqual(props["Architectures"], [{"Ref": "Architecture"}])
        self.assertEqual(out["Parameters"]["Architecture"]["Default"], "arm64")
        self.assertEqual(len(props["Layers"]), 1)
        env = props["Environment"]["Variables"]
        for var in ["PROFILE_RESOLVER_TTL_SECONDS", "PROFILE_RESOLVER_MAX_STALE_SECONDS", "PROFILE_RESOLVER_REGIONS",
                    "PROFILE_RESOLVER_SSM_PREFIX", "PROFILE_RESOLVER_TENANT_TAG", "PROFILE_RESOLVER_TENANT_CLAIM"]:
            self.assertIn(var, env)
        (layer,) = of_type(out, "AWS::Lambda::LayerVersion").values()
        self.assertIn("provided.al2023", layer["Properties"]["CompatibleRuntimes"])

    def test_iam_grants_exactly_the_three_read_actions_and_no_wildcard_action(self):
        out = transformed()
        actions, ssm_resources = set(), []
        for st in statements(out):
            acts = st["Action"] if isinstance(st["Action"], list) else [st["Action"]]
            for a in acts:
                self.assertNotIn("*", a, f"wildcard action {a}")
                actions.add(a)
                if a.startswith("ssm:"):
                    ssm_resources.extend(st["Resource"])
        self.assertEqual(actions, {"tag:GetResources", "bedrock:ListInferenceProfiles", "ssm:GetParametersByPath"})
        self.assertTrue(ssm_resources)
        for r in ssm_resources:
            self.assertIn("parameter${RoutesPath}", json.dumps(r), "SSM access is limited to the routes path")
        self.assertNotIn("kms:Decrypt", actions, "SecureString routes are not supported, so no KMS")

    def test_the_http_api_has_the_four_routes_with_iam_or_jwt_auth(self):
        out = transformed()
        routes = of_type(out, "AWS::ApiGatewayV2::Route")
        keys = sorted(r["Properties"]["RouteKey"] for r in routes.values())
        self.assertEqual(keys, ["GET /v1/profiles/{key+}", "GET /v1/resolve", "POST /v1/resolve",
                                "POST /v1/resolve/batch"])
        for r in routes.values():
            self.assertEqual(r["Properties"]["AuthorizationType"], {"Fn::If": ["UseJwt", "JWT", "AWS_IAM"]})
        (authorizer,) = of_type(out, "AWS::ApiGatewayV2::Authorizer").values()
        self.assertEqual(authorizer["Condition"], "UseJwt")
        self.assertEqual(len(of_type(out, "AWS::Lambda::Permission")), 1)

    def test_outputs_and_alarms(self):
        out = transformed()
        self.assertEqual(set(out["Outputs"]), {"FunctionArn", "LayerArn", "ApiUrl"})
        metrics = sorted(a["Properties"]["MetricName"] for a in of_type(out, "AWS::CloudWatch::Alarm").values())
        self.assertEqual(metrics, ["Errors", "SnapshotAgeSeconds", "UpstreamUnavailable"])
        (age,) = [a for a in of_type(out, "AWS::CloudWatch::Alarm").values()
                  if a["Properties"]["MetricName"] == "SnapshotAgeSeconds"]
        self.assertEqual(age["Properties"]["Namespace"], "ProfileResolver", "the extension's EMF namespace")
        self.assertEqual(age["Properties"]["Dimensions"][0]["Name"], "Region")

    def test_the_function_logs_json(self):
        out = transformed()
        (fn,) = of_type(out, "AWS::Lambda::Function").values()
        self.assertEqual(fn["Properties"]["LoggingConfig"], {"LogFormat": "JSON"})

    @unittest.skipUnless(os.environ.get("PROFILE_RESOLVER_SAM_BUILD") == "1",
                         "set PROFILE_RESOLVER_SAM_BUILD=1 (make test-sam-build) for the release build")
    def test_sam_build_produces_the_layer_and_the_bootstrap(self):
        build_dir = ROOT / ".aws-sam"
        shutil.rmtree(build_dir, ignore_errors=True)
        arch = os.environ.get("LAYER_ARCH", "x86_64")
        result = self.run_tool("sam", "build", "--beta-features", "--build-in-source",
                               "--parameter-overrides", f"Architecture={arch}")
        self.assertEqual(result.returncode, 0, result.stdout[-4000:] + result.stderr[-4000:])
        extension = build_dir / "build/CacheExtensionLayer/extensions/cache-extension"
        bootstrap = build_dir / "build/ResolverFunction/bootstrap"
        machine = {"x86_64": b"\x3e\x00", "arm64": b"\xb7\x00"}[arch]
        for binary in (extension, bootstrap):
            self.assertTrue(binary.is_file(), binary)
            self.assertTrue(binary.stat().st_mode & stat.S_IXUSR, f"{binary} is executable")
            head = binary.read_bytes()[:20]
            self.assertEqual(head[:4], b"\x7fELF")
            self.assertEqual(head[18:20], machine, f"{binary} is built for {arch}")


if __name__ == "__main__":
    unittest.main()
