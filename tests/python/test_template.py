"""Offline checks of template.yaml: cfn-lint and `sam validate --lint` are clean, the template
transformed by aws-sam-translator has the expected resources and least-privilege IAM (no
wildcard action), and `sam build` (no container) produces the layer and the function."""
import json
import os
import shutil
import stat
import struct
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
    resources["PublisherFunction"]["Properties"]["CodeUri"] = "s3://bucket/publisher.zip"
    return transform(template, params, NoManagedPolicies())


def resolve_ifs(value, conditions):
    """Evaluates Fn::If against `conditions`, dropping AWS::NoValue, as CloudFormation would."""
    if isinstance(value, dict):
        if set(value) == {"Fn::If"}:
            name, yes, no = value["Fn::If"]
            return resolve_ifs(yes if conditions[name] else no, conditions)
        if value == {"Ref": "AWS::NoValue"}:
            return None
        return {k: v for k, v in ((k, resolve_ifs(v, conditions)) for k, v in value.items()) if v is not None}
    if isinstance(value, list):
        return [v for v in (resolve_ifs(v, conditions) for v in value) if v is not None]
    return value


def role_statements(out, function, conditions):
    role = out["Resources"][f"{function}Role"]
    for policy in role["Properties"].get("Policies", []):
        yield from resolve_ifs(policy["PolicyDocument"]["Statement"], conditions)


def actions_of(statements):
    out = set()
    for st in statements:
        out.update(st["Action"] if isinstance(st["Action"], list) else [st["Action"]])
    return out


DIRECT = {"FleetMode": False, "ReadersMayList": True}


def of_type(out, kind):
    return {k: v for k, v in out["Resources"].items() if v["Type"] == kind}


def statements(out):
    for role in of_type(out, "AWS::IAM::Role").values():
        for policy in role["Properties"].get("Policies", []):
            yield from policy["PolicyDocument"]["Statement"]


class Template(unittest.TestCase):
    def run_tool(self, *args, env=None):
        env = dict(env if env is not None else os.environ, SAM_CLI_TELEMETRY="0",
                   AWS_DEFAULT_REGION="us-east-1")
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
        fn = out["Resources"]["ResolverFunction"]
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
        for st in role_statements(out, "ResolverFunction", DIRECT):
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
        self.assertEqual(authorizer["Condition"], "JwtApiOn")
        self.assertEqual(len(of_type(out, "AWS::Lambda::Permission")), 1)

    def test_per_tenant_isolation_sets_tenancy_config_and_drops_the_http_api(self):
        out = transformed()
        function = out["Resources"]["ResolverFunction"]["Properties"]
        self.assertEqual(function["TenancyConfig"],
                         {"Fn::If": ["PerTenant", {"TenantIsolationMode": "PER_TENANT"}, {"Ref": "AWS::NoValue"}]})
        self.assertEqual(out["Conditions"]["HttpApiOn"], {"Fn::Not": [{"Condition": "PerTenant"}]})
        api_types = ("AWS::ApiGatewayV2::Api", "AWS::ApiGatewayV2::Integration", "AWS::ApiGatewayV2::Route",
                     "AWS::ApiGatewayV2::Stage", "AWS::Lambda::Permission")
        for kind in api_types:
            for name, resource in of_type(out, kind).items():
                self.assertEqual(resource.get("Condition"), "HttpApiOn", name)
        self.assertEqual(out["Outputs"]["ApiUrl"]["Condition"], "HttpApiOn")

    def test_s3_mode_readers_need_only_get_object_on_the_prefix_with_fallback_none(self):
        out = transformed()
        fleet_none = {"FleetMode": True, "ReadersMayList": False}
        statements = list(role_statements(out, "ResolverFunction", fleet_none))
        self.assertEqual(actions_of(statements), {"s3:GetObject", "ssm:GetParametersByPath"})
        (s3,) = [st for st in statements if st["Action"] == "s3:GetObject"]
        self.assertEqual(s3["Resource"], {"Fn::Sub": "arn:${AWS::Partition}:s3:::${SnapshotBucket}/profiles/*"})
        fleet_direct = {"FleetMode": True, "ReadersMayList": True}
        self.assertEqual(actions_of(role_statements(out, "ResolverFunction", fleet_direct)),
                         {"s3:GetObject", "tag:GetResources", "bedrock:ListInferenceProfiles",
                          "ssm:GetParametersByPath"})
        env = out["Resources"]["ResolverFunction"]["Properties"]["Environment"]["Variables"]
        self.assertEqual(env["PROFILE_RESOLVER_SNAPSHOT_URL"]["Fn::If"][0], "FleetMode")
        (reader,) = of_type(out, "AWS::IAM::ManagedPolicy").values()
        self.assertEqual(actions_of(reader["Properties"]["PolicyDocument"]["Statement"]), {"s3:GetObject"})

    def test_the_publisher_writes_only_its_prefix_one_build_at_a_time_on_a_schedule_and_on_changes(self):
        out = transformed()
        pub = out["Resources"]["PublisherFunction"]
        self.assertEqual(pub["Condition"], "FleetMode")
        self.assertEqual(pub["Properties"]["ReservedConcurrentExecutions"], 1)
        statements = list(role_statements(out, "PublisherFunction", {"FleetMode": True}))
        writes = [st for st in statements if "s3:PutObject" in st["Action"]]
        self.assertEqual(len(writes), 1)
        self.assertEqual(writes[0]["Resource"], {"Fn::Sub": "arn:${AWS::Partition}:s3:::${SnapshotBucket}/profiles/*"})
        for st in statements:
            acts = st["Action"] if isinstance(st["Action"], list) else [st["Action"]]
            self.assertFalse(any("*" in a for a in acts), st)
        (mapping,) = of_type(out, "AWS::Lambda::EventSourceMapping").values()
        self.assertEqual(mapping["Properties"]["MaximumBatchingWindowInSeconds"], 5)
        self.assertEqual(mapping["Properties"]["BatchSize"], 100)
        (schedule,) = of_type(out, "AWS::Scheduler::Schedule").values()
        self.assertEqual(schedule["Properties"]["ScheduleExpression"],
                         {"Fn::Sub": "rate(${PublishIntervalMinutes} minutes)"})
        patterns = [r["Properties"]["EventPattern"] for r in of_type(out, "AWS::Events::Rule").values()]
        sources = sorted(p["source"][0] for p in patterns)
        self.assertEqual(sources, ["aws.bedrock", "aws.tag"])
        (cloudtrail,) = [p for p in patterns if p["source"] == ["aws.bedrock"]]
        self.assertEqual(sorted(cloudtrail["detail"]["eventName"]),
                         ["CreateInferenceProfile", "DeleteInferenceProfile", "TagResource", "UntagResource"])
        (bucket,) = of_type(out, "AWS::S3::Bucket").values()
        block = bucket["Properties"]["PublicAccessBlockConfiguration"]
        self.assertTrue(all(block.values()) and len(block) == 4)
        sse = bucket["Properties"]["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]
        self.assertEqual(sse["ServerSideEncryptionByDefault"]["SSEAlgorithm"], "AES256")

    def test_outputs_and_alarms(self):
        out = transformed()
        self.assertEqual(set(out["Outputs"]), {"FunctionArn", "LayerArn", "ApiUrl", "SnapshotUrl",
                                               "SnapshotReaderPolicyArn"})
        metrics = sorted(a["Properties"]["MetricName"] for a in of_type(out, "AWS::CloudWatch::Alarm").values())
        self.assertEqual(metrics, ["Errors", "SnapshotAgeSeconds", "UpstreamUnavailable"])
        (age,) = [a for a in of_type(out, "AWS::CloudWatch::Alarm").values()
                  if a["Properties"]["MetricName"] == "SnapshotAgeSeconds"]
        self.assertEqual(age["Properties"]["Namespace"], "ProfileResolver", "the extension's EMF namespace")
        self.assertEqual(age["Properties"]["Dimensions"][0]["Name"], "Region")

    def test_the_functions_log_json(self):
        out = transformed()
        for fn in of_type(out, "AWS::Lambda::Function").values():
            self.assertEqual(fn["Properties"]["LoggingConfig"], {"LogFormat": "JSON"})

    @unittest.skipUnless(os.environ.get("PROFILE_RESOLVER_SAM_BUILD") == "1",
                         "set PROFILE_RESOLVER_SAM_BUILD=1 (make test-sam-build) for the release builds")
    def test_sam_build_with_the_defaults_builds_arm64_and_the_layer_follows_the_architecture(self):
        # The defaults: everything for arm64, into .aws-sam/build (the arm64 suite runs these).
        build_dir = ROOT / ".aws-sam" / "build"
        shutil.rmtree(build_dir, ignore_errors=True)
        result = self.run_tool("sam", "build", "--beta-features", "--build-in-source",
                               "--parameter-overrides", "SnapshotMode=s3")
        self.assertEqual(result.returncode, 0, result.stdout[-4000:] + result.stderr[-4000:])
        for binary in (build_dir / "CacheExtensionLayer/extensions/cache-extension",
                       build_dir / "ResolverFunction/bootstrap",
                       build_dir / "PublisherFunction/bootstrap"):
            self.assert_release_binary(binary, "arm64")
        # Architecture=x86_64 and nothing else: the layer is x86_64 too (its own build dir, so
        # the arm64 build above stays for the arm64 suite).
        x86_dir = ROOT / ".aws-sam" / "build-x86_64"
        shutil.rmtree(x86_dir, ignore_errors=True)
        env_without = {k: v for k, v in os.environ.items() if k != "LAYER_ARCH"}
        result = self.run_tool("sam", "build", "CacheExtensionLayer", "--beta-features",
                               "--build-in-source", "--build-dir", str(x86_dir),
                               "--parameter-overrides", "Architecture=x86_64", env=env_without)
        self.assertEqual(result.returncode, 0, result.stdout[-4000:] + result.stderr[-4000:])
        self.assert_release_binary(x86_dir / "CacheExtensionLayer/extensions/cache-extension", "x86_64")

    def assert_release_binary(self, binary, arch):
        machine = {"x86_64": b"\x3e\x00", "arm64": b"\xb7\x00"}[arch]
        self.assertTrue(binary.is_file(), binary)
        self.assertTrue(binary.stat().st_mode & stat.S_IXUSR, f"{binary} is executable")
        head = binary.read_bytes()[:20]
        self.assertEqual(head[:4], b"\x7fELF")
        self.assertEqual(head[18:20], machine, f"{binary} is built for {arch}")
        # cargo lambda builds with panic=abort unless the profile says otherwise; unwinding
        # code has landing pads, whose tables fill .gcc_except_table (6 KiB without them,
        # about 250 KiB with them).
        self.assertGreater(section_size(binary, ".gcc_except_table"), 64 * 1024,
                           f"{binary} unwinds on panic")


def section_size(path, name):
    """The size of one section of a little-endian ELF64 file, 0 if it has none."""
    data = path.read_bytes()
    shoff, = struct.unpack_from("<Q", data, 0x28)
    shentsize, shnum, shstrndx = struct.unpack_from("<HHH", data, 0x3A)
    def header(i):
        return struct.unpack_from("<IIQQQQ", data, shoff + i * shentsize)
    strtab_offset = header(shstrndx)[4]
    for i in range(shnum):
        name_at, _, _, _, _, size = header(i)
        start = strtab_offset + name_at
        if data[start:data.index(b"\0", start)].decode() == name:
            return size
    return 0


if __name__ == "__main__":
    unittest.main()
