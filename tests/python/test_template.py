"""Offline checks of template.yaml: cfn-lint and `sam validate --lint` are clean, the template
transformed by aws-sam-translator has the expected resources and least-privilege IAM (no
wildcard action), its alarms hold in a healthy steady state, docs/deploy.md lists what the
template has, and `sam build` (no container) produces the layer and the function."""
import ast
import json
import operator
import os
import re
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
DEPLOY_GUIDE = ROOT / "docs" / "deploy.md"
VENV_BIN = Path(os.environ.get("VIRTUAL_ENV", ROOT / ".venv")) / "bin"


class NoManagedPolicies:
    def load(self):
        return {}


def transformed(**params):
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    template = yaml_parse(TEMPLATE.read_text())
    # As `sam package` would: local code paths become S3 locations.
    resources = template["Resources"]
    for function in ("ResolverFunction", "ManagedResolverFunction"):
        resources[function]["Properties"]["CodeUri"] = "s3://bucket/function.zip"
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

# How the stack names its resolver function: the one on default compute, or with
# CapacityProviderArn the one on Lambda Managed Instances.
THE_FUNCTION = {"Fn::If": ["OnManagedInstances", {"Ref": "ManagedResolverFunction"}, {"Ref": "ResolverFunction"}]}
THE_FUNCTION_ARN = {"Fn::If": ["OnManagedInstances", {"Fn::GetAtt": ["ManagedResolverFunction", "Arn"]},
                               {"Fn::GetAtt": ["ResolverFunction", "Arn"]}]}


PSEUDO = {"AWS::Region": "us-east-1", "AWS::AccountId": "123456789012", "AWS::StackName": "stack",
          "AWS::Partition": "aws", "AWS::URLSuffix": "amazonaws.com"}


class Evaluator:
    """Evaluates the intrinsic functions that conditions, rules and parameter-only values use,
    for given parameter values (the template's defaults otherwise), as CloudFormation would."""

    def __init__(self, out, **params):
        self.out = out
        self.params = {}
        for name, spec in out["Parameters"].items():
            value = str(params.get(name, spec.get("Default", "")))
            self.params[name] = value.split(",") if spec["Type"] == "CommaDelimitedList" else value
        unknown = set(params) - set(self.params)
        assert not unknown, f"no such parameters: {unknown}"
        self.conditions = {name: self.condition(name) for name in out.get("Conditions", {})}

    def condition(self, name):
        return bool(self(self.out["Conditions"][name]))

    def __call__(self, value):
        if isinstance(value, list):
            return [self(v) for v in value]
        if not isinstance(value, dict) or len(value) != 1:
            return value
        (fn, arg), = value.items()
        if fn == "Ref":
            return self.params[arg] if arg in self.params else PSEUDO[arg]
        if fn == "Condition":
            return self.condition(arg)
        if fn == "Fn::If":
            return self(arg[1] if self.condition(arg[0]) else arg[2])
        if fn == "Fn::Equals":
            return str(self(arg[0])) == str(self(arg[1]))
        if fn == "Fn::Not":
            return not self(arg[0])
        if fn == "Fn::And":
            return all(self(a) for a in arg)
        if fn == "Fn::Or":
            return any(self(a) for a in arg)
        if fn == "Fn::Join":
            return arg[0].join(str(v) for v in self(arg[1]))
        if fn == "Fn::FindInMap":
            name, top, second = (self(a) for a in arg)
            return self.out["Mappings"][name][str(top)][second]
        if fn == "Fn::Sub":
            text, extra = (arg, {}) if isinstance(arg, str) else (arg[0], {k: self(v) for k, v in arg[1].items()})
            names = {**PSEUDO, **self.params, **extra}
            return re.sub(r"\$\{([^}]+)\}", lambda m: str(names[m.group(1)]), text)
        raise AssertionError(f"not evaluated here: {fn}")

    def failed_rules(self):
        """The AssertDescription of every rule assertion these parameters break."""
        failed = []
        for rule in self.out.get("Rules", {}).values():
            if "RuleCondition" in rule and not self(rule["RuleCondition"]):
                continue
            failed.extend(a["AssertDescription"] for a in rule["Assertions"] if not self(a["Assert"]))
        return failed


_ARITHMETIC = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.Div: operator.truediv}


def arithmetic(expression, **names):
    """The value of a CloudWatch metric-math expression made of numbers, names, + - * / and ()."""
    def value(node):
        if isinstance(node, ast.BinOp) and type(node.op) in _ARITHMETIC:
            return _ARITHMETIC[type(node.op)](value(node.left), value(node.right))
        if isinstance(node, ast.Constant) and isinstance(node.value, (int, float)):
            return node.value
        if isinstance(node, ast.Name):
            return names[node.id]
        raise AssertionError(f"unexpected in {expression!r}: {ast.dump(node)}")
    return value(ast.parse(expression, mode="eval").body)


def alarm_fires(out, alarm, age, **params):
    """Whether `alarm` (a metric-math alarm on the snapshot age) is breached by a Maximum of `age`."""
    ev = Evaluator(out, **params)
    props = out["Resources"][alarm]["Properties"]
    (shown,) = [m for m in props["Metrics"] if m.get("ReturnData", True)]
    value = arithmetic(ev(shown["Expression"]), age=age)
    assert props["ComparisonOperator"] == "GreaterThanThreshold"
    return value > float(ev(props["Threshold"]))


def guide_section(title):
    """The text of docs/deploy.md under the heading `title`, up to the next heading of its level."""
    text = DEPLOY_GUIDE.read_text()
    match = re.search(rf"^(#+) {re.escape(title)}\n", text, re.M)
    assert match, f"docs/deploy.md has no heading {title!r}"
    level = len(match.group(1))
    rest = text[match.end():]
    end = re.search(rf"^#{{1,{level}}} ", rest, re.M)
    return rest[:end.start()] if end else rest


def of_type(out, kind):
    return {k: v for k, v in out["Resources"].items() if v["Type"] == kind}


def alarm_metric(alarm):
    """(namespace, metric name) of an alarm on one metric, or of the one metric a math alarm reads."""
    props = alarm["Properties"]
    if "MetricName" in props:
        return props["Namespace"], props["MetricName"]
    (metric,) = [m["MetricStat"]["Metric"] for m in props["Metrics"] if "MetricStat" in m]
    return metric["Namespace"], metric["MetricName"]


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

    def test_on_a_capacity_provider_the_same_function_runs_on_managed_instances_instead(self):
        arn = "arn:aws:lambda:us-east-1:123456789012:capacity-provider:resolvers"
        out = transformed(CapacityProviderArn=arn)
        resources = out["Resources"]
        default, managed = resources["ResolverFunction"], resources["ManagedResolverFunction"]
        self.assertEqual(default["Condition"], "OnDefaultCompute")
        self.assertEqual(managed["Condition"], "OnManagedInstances")
        self.assertEqual(resources["ManagedResolverFunctionRole"]["Condition"], "OnManagedInstances")
        for params, on_managed in (({}, False), ({"CapacityProviderArn": arn}, True)):
            conditions = Evaluator(out, **params).conditions
            self.assertEqual((conditions["OnManagedInstances"], conditions["OnDefaultCompute"]),
                             (on_managed, not on_managed), params)
        self.assertEqual(managed["Properties"]["CapacityProviderConfig"],
                         {"LambdaManagedInstancesCapacityProviderConfig":
                          {"CapacityProviderArn": {"Ref": "CapacityProviderArn"}}})
        self.assertGreaterEqual(managed["Properties"]["MemorySize"], 2048)
        self.assertNotIn("CapacityProviderConfig", default["Properties"])
        # The same function otherwise: name, code, layer, logs, environment and permissions.
        for key in ("FunctionName", "Code", "Layers", "LoggingConfig", "Environment", "Architectures",
                    "Runtime", "Handler"):
            self.assertEqual(managed["Properties"][key], default["Properties"][key], key)
        for conditions in (DIRECT, {"FleetMode": True, "ReadersMayList": False}):
            self.assertEqual(list(role_statements(out, "ManagedResolverFunction", conditions)),
                             list(role_statements(out, "ResolverFunction", conditions)))
        # Everything that names the function names whichever of the two exists.
        self.assertEqual(resources["ResolverIntegration"]["Properties"]["IntegrationUri"], THE_FUNCTION_ARN)
        self.assertEqual(resources["ApiInvokePermission"]["Properties"]["FunctionName"], THE_FUNCTION)
        self.assertEqual(out["Outputs"]["FunctionArn"]["Value"], THE_FUNCTION_ARN)
        text = json.dumps({"Resources": {k: v for k, v in resources.items()
                                         if k not in ("ResolverFunction", "ResolverFunctionRole")},
                           "Outputs": out["Outputs"]})
        for either in (THE_FUNCTION, THE_FUNCTION_ARN):
            text = text.replace(json.dumps(either), "")
        self.assertNotIn('"ResolverFunction"', text, "a reference to one of the two functions only")
        self.assertEqual(Evaluator(out, CapacityProviderArn=arn, TenantIsolationMode="PER_TENANT").failed_rules(),
                         ["CapacityProviderArn and TenantIsolationMode=PER_TENANT are not combined."])
        self.assertEqual(Evaluator(out, CapacityProviderArn=arn).failed_rules(), [])

    def test_the_usage_dashboard_is_off_by_default_and_on_writes_only_its_own_dashboards_and_alarms(self):
        out = transformed()
        publisher = out["Resources"]["PublisherFunction"]["Properties"]
        env = publisher["Environment"]["Variables"]
        fleet = {"FleetMode": True, "ReadersMayList": True}
        for params, on in (({"SnapshotMode": "s3"}, False), ({"SnapshotMode": "s3", "UsageDashboard": "usage"}, True)):
            conditions = Evaluator(out, **params).conditions
            self.assertEqual(conditions["UsageViewsOn"], on)
            variables = resolve_ifs(env, conditions)
            self.assertEqual("PROFILE_RESOLVER_DASHBOARD" in variables, on, params)
            statements = list(role_statements(out, "PublisherFunction", {**fleet, "UsageViewsOn": on}))
            cloudwatch = [s for s in statements if any(a.startswith("cloudwatch:") for a in
                                                        (s["Action"] if isinstance(s["Action"], list) else [s["Action"]]))]
            if not on:
                self.assertEqual(cloudwatch, [])
                continue
            self.assertEqual(variables["PROFILE_RESOLVER_DASHBOARD"], {"Ref": "UsageDashboard"})
            self.assertEqual(variables["PROFILE_RESOLVER_ALARM_TOPIC_ARN"], {"Ref": "AlarmTopicArn"})
            granted = {json.dumps(s["Action"]): s["Resource"]["Fn::Sub"] for s in cloudwatch}
            self.assertEqual(granted, {
                '"cloudwatch:PutDashboard"':
                    "arn:${AWS::Partition}:cloudwatch::${AWS::AccountId}:dashboard/${UsageDashboard}-*",
                '["cloudwatch:PutMetricAlarm", "cloudwatch:DeleteAlarms"]':
                    "arn:${AWS::Partition}:cloudwatch:*:${AWS::AccountId}:alarm:${UsageDashboard}-*",
            })
        self.assertEqual(Evaluator(out, UsageDashboard="usage").failed_rules(),
                         ["UsageDashboard needs SnapshotMode=s3 (the publisher keeps the dashboards)."])

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
        # The exported reader policy is what the function gets with fallback none: the snapshots,
        # and the routes (unreadable routes would turn every miss into a 503).
        (reader,) = of_type(out, "AWS::IAM::ManagedPolicy").values()
        reader_statements = reader["Properties"]["PolicyDocument"]["Statement"]
        self.assertEqual(actions_of(reader_statements), actions_of(statements))
        for st in reader_statements:
            if st["Action"] == "ssm:GetParametersByPath":
                for r in st["Resource"]:
                    self.assertIn("parameter${RoutesPath}", json.dumps(r))

    def test_the_publisher_writes_only_its_prefix_one_build_at_a_time_on_a_schedule_and_on_changes(self):
        out = transformed()
        pub = out["Resources"]["PublisherFunction"]
        self.assertEqual(pub["Condition"], "FleetMode")
        self.assertEqual(pub["Properties"]["ReservedConcurrentExecutions"], 1)
        statements = list(role_statements(out, "PublisherFunction", {"FleetMode": True, "UsageViewsOn": True}))
        writes = [st for st in statements if "s3:PutObject" in st["Action"]]
        self.assertEqual(len(writes), 1)
        self.assertEqual(writes[0]["Resource"], {"Fn::Sub": "arn:${AWS::Partition}:s3:::${SnapshotBucket}/profiles/*"})
        # S3 answers 404, not 403, for an object not written yet only to a principal that may list.
        (listing,) = [st for st in statements if st["Action"] == "s3:ListBucket"]
        self.assertEqual(listing["Resource"], {"Fn::Sub": "arn:${AWS::Partition}:s3:::${SnapshotBucket}"})
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
                                               "SnapshotBucketName", "SnapshotReaderPolicyArn", "UsageDashboards"})
        alarms = of_type(out, "AWS::CloudWatch::Alarm")
        self.assertEqual(sorted(alarm_metric(a)[1] for a in alarms.values()),
                         ["5xx", "ApproximateNumberOfMessagesVisible", "Errors", "Errors", "SnapshotAgeSeconds",
                          "UpstreamUnavailable"])
        (age,) = [a for a in alarms.values() if alarm_metric(a)[1] == "SnapshotAgeSeconds"]
        (metric,) = [m["MetricStat"]["Metric"] for m in age["Properties"]["Metrics"] if "MetricStat" in m]
        self.assertEqual(metric["Namespace"], "ProfileResolver", "the extension's EMF namespace")
        # The dimension set the extension publishes inside Lambda (cache-extension/src/metrics.rs):
        # this stack's function, in the stack's region.
        self.assertEqual(metric["Dimensions"], [{"Name": "FunctionName", "Value": THE_FUNCTION},
                                                {"Name": "Region", "Value": {"Ref": "AWS::Region"}}])

    def test_the_functions_log_json_to_log_groups_of_the_stack(self):
        out = transformed()
        functions = of_type(out, "AWS::Lambda::Function")
        self.assertEqual(set(functions), {"ResolverFunction", "ManagedResolverFunction", "PublisherFunction"})
        for name, fn in functions.items():
            config = fn["Properties"]["LoggingConfig"]
            self.assertEqual(config["LogFormat"], "JSON")
            group = out["Resources"][config["LogGroup"]["Ref"]]
            self.assertEqual(group["Type"], "AWS::Logs::LogGroup")
            # The group exists whenever its function does (one group serves both resolver functions).
            self.assertIn(group.get("Condition"), (None, fn.get("Condition")), name)
            function_name = fn["Properties"]["FunctionName"]["Fn::Sub"]
            self.assertEqual(group["Properties"]["LogGroupName"], {"Fn::Sub": f"/aws/lambda/{function_name}"})

    def test_globals_hold_what_both_functions_share(self):
        raw = yaml_parse(TEMPLATE.read_text())
        shared = raw["Globals"]["Function"]
        for key in ("Runtime", "Handler", "Architectures", "LoggingConfig", "CodeUri", "Timeout", "MemorySize"):
            self.assertIn(key, shared)
        self.assertEqual(shared["LoggingConfig"], {"LogFormat": "JSON"})
        for name in ("ResolverFunction", "PublisherFunction"):
            props = raw["Resources"][name]["Properties"]
            for key in ("Runtime", "Handler", "Architectures", "CodeUri"):
                self.assertNotIn(key, props, f"{name} repeats {key} from Globals")
            self.assertNotIn("LogFormat", props["LoggingConfig"], f"{name} repeats the log format")
        # After the transform, both functions have them (and the variables both read).
        out = transformed()
        for fn in of_type(out, "AWS::Lambda::Function").values():
            props = fn["Properties"]
            self.assertEqual((props["Runtime"], props["Handler"]), ("provided.al2023", "bootstrap"))
            self.assertEqual(props["Architectures"], [{"Ref": "Architecture"}])
            for var in ("PROFILE_RESOLVER_REGIONS", "PROFILE_RESOLVER_ACCOUNT_ID"):
                self.assertIn(var, props["Environment"]["Variables"])
        self.assertEqual(out["Resources"]["PublisherFunction"]["Properties"]["Timeout"], 60)

    def test_regions_is_a_list_and_the_functions_get_it_comma_separated(self):
        out = transformed()
        self.assertEqual(out["Parameters"]["Regions"]["Type"], "CommaDelimitedList")
        for fn in of_type(out, "AWS::Lambda::Function").values():
            regions = fn["Properties"]["Environment"]["Variables"]["PROFILE_RESOLVER_REGIONS"]
            self.assertEqual(Evaluator(out)(regions), "us-east-1", "empty means the stack's region")
            self.assertEqual(Evaluator(out, Regions="eu-west-1")(regions), "eu-west-1")
            self.assertEqual(Evaluator(out, Regions="us-east-1,eu-west-1")(regions), "us-east-1,eu-west-1")
        self.assertFalse(Evaluator(out).conditions["RegionsGiven"])
        self.assertTrue(Evaluator(out, Regions="eu-west-1").conditions["RegionsGiven"])

    def test_rules_refuse_jwt_auth_without_issuer_or_audience(self):
        out = transformed()
        issuer = "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_example"
        self.assertEqual(Evaluator(out).failed_rules(), [])
        self.assertEqual(Evaluator(out, ApiAuth="JWT", JwtIssuer=issuer, JwtAudience="client").failed_rules(), [])
        (message,) = Evaluator(out, ApiAuth="JWT", JwtAudience="client").failed_rules()
        self.assertIn("JwtIssuer", message)
        (message,) = Evaluator(out, ApiAuth="JWT", JwtIssuer=issuer).failed_rules()
        self.assertIn("JwtAudience", message)
        self.assertEqual(len(Evaluator(out, ApiAuth="JWT").failed_rules()), 2)
        self.assertTrue(re.fullmatch(out["Parameters"]["JwtIssuer"]["AllowedPattern"], issuer))
        self.assertTrue(re.fullmatch(out["Parameters"]["JwtIssuer"]["AllowedPattern"], ""))
        self.assertFalse(re.fullmatch(out["Parameters"]["JwtIssuer"]["AllowedPattern"], "http://issuer"))

    def test_outputs_other_stacks_use_are_exported_under_the_stack_name(self):
        out = transformed()
        exported = {name: o["Export"]["Name"] for name, o in out["Outputs"].items() if "Export" in o}
        self.assertEqual(set(exported), {"FunctionArn", "LayerArn", "ApiUrl", "SnapshotUrl",
                                         "SnapshotReaderPolicyArn"})
        for name, export in exported.items():
            self.assertEqual(export, {"Fn::Sub": "${AWS::StackName}-" + name})
        self.assertEqual(out["Outputs"]["ApiUrl"]["Condition"], "HttpApiOn")
        for name in ("SnapshotUrl", "SnapshotReaderPolicyArn", "SnapshotBucketName"):
            self.assertEqual(out["Outputs"][name]["Condition"], "FleetMode")

    def test_log_groups_are_deleted_with_the_stack_and_keep_log_retention_days(self):
        out = transformed()
        retention = out["Parameters"]["LogRetentionDays"]
        self.assertEqual(str(retention["Default"]), "30")
        self.assertEqual([int(v) for v in retention["AllowedValues"]],
                         [1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192,
                          2557, 2922, 3288, 3653], "the values CloudWatch Logs accepts")
        groups = of_type(out, "AWS::Logs::LogGroup")
        self.assertEqual(set(groups), {"ResolverLogGroup", "PublisherLogGroup", "ApiAccessLogGroup"})
        for name, group in groups.items():
            self.assertEqual(group["DeletionPolicy"], "Delete", name)
            self.assertEqual(group["UpdateReplacePolicy"], "Delete", name)
            self.assertEqual(group["Properties"]["RetentionInDays"], {"Ref": "LogRetentionDays"}, name)
        self.assertEqual(groups["PublisherLogGroup"]["Condition"], "FleetMode")
        self.assertEqual(groups["ApiAccessLogGroup"]["Condition"], "ApiAccessLogsOn")

    def test_api_access_logs_are_optional_json_lines(self):
        out = transformed()
        self.assertEqual(out["Parameters"]["ApiAccessLogs"]["Default"], "false")
        self.assertFalse(Evaluator(out).conditions["ApiAccessLogsOn"])
        self.assertTrue(Evaluator(out, ApiAccessLogs="true").conditions["ApiAccessLogsOn"])
        self.assertFalse(Evaluator(out, ApiAccessLogs="true", TenantIsolationMode="PER_TENANT")
                         .conditions["ApiAccessLogsOn"], "no HTTP API, no access logs")
        stage = out["Resources"]["ResolverStage"]["Properties"]
        on = resolve_ifs(stage, {"ApiAccessLogsOn": True})["AccessLogSettings"]
        self.assertNotIn("AccessLogSettings", resolve_ifs(stage, {"ApiAccessLogsOn": False}))
        self.assertEqual(on["DestinationArn"], {"Fn::GetAtt": ["ApiAccessLogGroup", "Arn"]})
        fields = json.loads(on["Format"])
        for key in ("requestId", "ip", "routeKey", "status", "integrationError"):
            self.assertIn(key, fields)
        self.assertEqual(fields["requestId"], "$context.requestId")
        self.assertEqual(fields["integrationError"], "$context.integrationErrorMessage")
        self.assertNotIn("\n", on["Format"], "one line per request")

    def test_the_versioned_snapshot_bucket_is_retained_and_expires_old_versions(self):
        out = transformed()
        bucket = out["Resources"]["SnapshotBucket"]
        self.assertEqual((bucket["DeletionPolicy"], bucket["UpdateReplacePolicy"]), ("Retain", "Retain"))
        self.assertEqual(bucket["Properties"]["VersioningConfiguration"], {"Status": "Enabled"})
        (rule,) = bucket["Properties"]["LifecycleConfiguration"]["Rules"]
        self.assertEqual(rule["NoncurrentVersionExpiration"], {"NoncurrentDays": 1})
        self.assertEqual(out["Outputs"]["SnapshotBucketName"]["Value"], {"Ref": "SnapshotBucket"})
        self.assertIn("empty", guide_section("Teardown"), "the guide says how to remove the bucket")

    def test_every_alarm_notifies_the_topic_and_exists_with_what_it_watches(self):
        out = transformed()
        alarms = of_type(out, "AWS::CloudWatch::Alarm")
        for name, alarm in alarms.items():
            self.assertEqual(alarm["Properties"]["AlarmActions"],
                             {"Fn::If": ["HasAlarmTopic", [{"Ref": "AlarmTopicArn"}], {"Ref": "AWS::NoValue"}]}, name)
            self.assertEqual(alarm["Properties"]["TreatMissingData"], "notBreaching", name)
        by_metric = {alarm_metric(a): (n, a) for n, a in alarms.items()}
        name, publisher = [(n, a) for n, a in alarms.items() if alarm_metric(a) == ("AWS/Lambda", "Errors")
                           and a["Properties"]["Dimensions"][0]["Value"] == {"Ref": "PublisherFunction"}][0]
        self.assertEqual(publisher["Condition"], "FleetMode")
        _, dlq = by_metric[("AWS/SQS", "ApproximateNumberOfMessagesVisible")]
        self.assertEqual(dlq["Condition"], "FleetMode")
        self.assertEqual(dlq["Properties"]["Dimensions"],
                         [{"Name": "QueueName", "Value": {"Fn::GetAtt": ["ChangeDeadLetterQueue", "QueueName"]}}])
        self.assertEqual((dlq["Properties"]["Threshold"], dlq["Properties"]["ComparisonOperator"]),
                         (0, "GreaterThanThreshold"), "one message in the dead-letter queue is enough")
        _, api = by_metric[("AWS/ApiGateway", "5xx")]
        self.assertEqual(api["Condition"], "HttpApiOn")
        self.assertEqual(api["Properties"]["Dimensions"], [{"Name": "ApiId", "Value": {"Ref": "ResolverApi"}}])

    def test_the_snapshot_age_alarm_stays_quiet_in_a_healthy_steady_state_and_fires_past_it(self):
        out = transformed()
        self.assertEqual(str(out["Parameters"]["SnapshotAgeAlarmSeconds"]["Default"]), "0", "automatic")
        ttl = float(out["Parameters"]["TtlSeconds"]["Default"])
        interval = 60 * float(out["Parameters"]["PublishIntervalMinutes"]["Default"])
        refresh = float(out["Resources"]["ResolverFunction"]["Properties"]["Timeout"])
        publish = float(out["Resources"]["PublisherFunction"]["Properties"]["Timeout"])
        # Direct mode: a refresh is due after the TTL plus up to 10 % jitter, and the extension
        # reports the age after the invoke's refresh (bounded by the invoke).
        direct_healthy = ttl * 1.1 + refresh
        # S3 mode: the data's age counts from the publisher's last listing; it climbs to the
        # publish interval (plus the build) before the next heartbeat, which a reader sees
        # within its TTL.
        s3_healthy = interval + publish + ttl * 1.1
        self.assertFalse(alarm_fires(out, "SnapshotAgeAlarm", direct_healthy))
        self.assertFalse(alarm_fires(out, "SnapshotAgeAlarm", s3_healthy, SnapshotMode="s3"))
        # Past it: refreshes failing for two TTLs and a minute; a publish missed.
        self.assertTrue(alarm_fires(out, "SnapshotAgeAlarm", 2 * ttl + 61))
        self.assertTrue(alarm_fires(out, "SnapshotAgeAlarm", 2 * interval + ttl * 1.1, SnapshotMode="s3"))
        # Automatic follows every publish interval and TTL, where a fixed threshold could not.
        for minutes in out["Parameters"]["PublishIntervalMinutes"]["AllowedValues"]:
            for ttl in (1, 10, 60, 300, 900):
                params = {"TtlSeconds": ttl, "PublishIntervalMinutes": minutes}
                self.assertFalse(alarm_fires(out, "SnapshotAgeAlarm", ttl * 1.1 + refresh, **params))
                self.assertFalse(alarm_fires(out, "SnapshotAgeAlarm", 60 * int(minutes) + publish + ttl * 1.1,
                                             SnapshotMode="s3", **params))
                self.assertTrue(alarm_fires(out, "SnapshotAgeAlarm", 60 * int(minutes) * 2 + ttl * 2 + 61,
                                            SnapshotMode="s3", **params))
        # A value set by hand is the limit, in both modes.
        for mode in ("direct", "s3"):
            self.assertFalse(alarm_fires(out, "SnapshotAgeAlarm", 899, SnapshotMode=mode, SnapshotAgeAlarmSeconds=900))
            self.assertTrue(alarm_fires(out, "SnapshotAgeAlarm", 901, SnapshotMode=mode, SnapshotAgeAlarmSeconds=900))

    def test_the_deploy_guide_lists_exactly_the_template_parameters_with_their_defaults(self):
        out = transformed()
        rows = [line for line in guide_section("Parameters").splitlines() if line.startswith("| `")]
        listed = {}
        for row in rows:
            cells = [c.strip() for c in row.strip().strip("|").split("|")]
            name = cells[0].strip("`")
            self.assertNotIn(name, listed, f"{name} is listed twice")
            listed[name] = cells[1]
        self.assertEqual(set(listed), set(out["Parameters"]))
        for name, default in listed.items():
            expected = str(out["Parameters"][name].get("Default", ""))
            self.assertEqual(default, f"`{expected}`" if expected else "*(empty)*", name)

    def test_the_deploy_guide_names_exactly_the_read_actions_the_function_gets(self):
        out = transformed()
        granted = set()
        for conditions in (DIRECT, {"FleetMode": True, "ReadersMayList": True},
                           {"FleetMode": True, "ReadersMayList": False}):
            granted |= actions_of(role_statements(out, "ResolverFunction", conditions))
        # Actions, not ARNs (arn:aws:ssm:REGION:...).
        named = set(re.findall(r"(?<![:\w])(?:tag|bedrock|ssm|s3|kms|sts|lambda|logs):[A-Z][A-Za-z]+\b",
                               guide_section("The function's permissions")))
        self.assertEqual(named, granted)

    @unittest.skipUnless(os.environ.get("PROFILE_RESOLVER_SAM_BUILD") == "1",
                         "set PROFILE_RESOLVER_SAM_BUILD=1 (make test-sam-build) for the release builds")
    def test_sam_build_with_the_defaults_builds_arm64_and_the_layer_follows_the_architecture(self):
        # The defaults: everything for arm64, into .aws-sam/build (the arm64 suite runs these).
        build_dir = ROOT / ".aws-sam" / "build"
        shutil.rmtree(build_dir, ignore_errors=True)
        result = self.run_tool("sam", "build", "--beta-features", "--build-in-source",
                               "--parameter-overrides", "SnapshotMode=s3")
        self.assertEqual(result.returncode, 0, result.stdout[-4000:] + result.stderr[-4000:])
        built = yaml_parse((build_dir / "template.yaml").read_text())["Resources"]
        def code(resource):
            props = built[resource]["Properties"]
            return build_dir / props.get("CodeUri", props.get("ContentUri", ""))
        for binary in (code("CacheExtensionLayer") / "extensions/cache-extension",
                       code("ResolverFunction") / "bootstrap",
                       code("PublisherFunction") / "bootstrap"):
            self.assert_release_binary(binary, "arm64")
        # The function on a capacity provider is the same build, made once with the other.
        self.assertEqual(code("ManagedResolverFunction"), code("ResolverFunction"))
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
