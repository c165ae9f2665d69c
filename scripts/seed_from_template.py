"""Generate an aws-emulator seed file from a CloudFormation template of Bedrock profiles.

Usage: seed_from_template.py TEMPLATE REGION [REGION...] > out.json

Reads TEMPLATE (YAML or JSON, short-form intrinsics such as !Sub allowed) and, for each REGION
in the order given, evaluates the template's Conditions as a stack deployed in that Region with
every parameter at its Default would. Each resource of type
AWS::Bedrock::ApplicationInferenceProfile whose Condition holds (or that has none) becomes one
seed profile (the format is in tests/EMULATOR.md, "Seed files"):

- region: the Region;
- name: InferenceProfileName;
- id: the first 12 hex characters of sha256("REGION/NAME"), so ids are stable across runs;
- model: ModelSource.CopyFrom, with ${AWS::Partition} = aws, ${AWS::Region} = the Region and
  ${AWS::AccountId} = 123456789012 substituted when it is an Fn::Sub;
- tags: Tags as a dict, in the template's order.

Profiles are listed Region by Region, each Region's in template order, one per line as in
demo/org.json, which is generated with:

    .venv/bin/python scripts/seed_from_template.py examples/profiles.yaml us-east-1 eu-west-1 > demo/org.json

Only what that needs is supported: conditions made of Fn::Equals, Fn::Not, and Ref of a
parameter (with a Default) or of AWS::Region; Fn::Sub in its one-string form over the three
pseudo parameters above; plain strings everywhere else. Anything else (Fn::And, Fn::If, another
pseudo parameter, a parameter without a Default, ...) is an error, not a guess: the script exits
non-zero with a message and writes nothing to stdout.
"""
import argparse
import hashlib
import json
import re
import sys

from cfnlint.decode import cfn_yaml

PROFILE_TYPE = "AWS::Bedrock::ApplicationInferenceProfile"
ACCOUNT_ID = "123456789012"
PARTITION = "aws"
SUB_VARIABLE = re.compile(r"\$\{([^}]*)\}")


class TemplateError(Exception):
    """Something in the template this script does not (or cannot) evaluate."""


def scalar(value, where):
    """A literal as CloudFormation compares it: a string."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (str, int, float)):
        return str(value)
    raise TemplateError(f"{where}: expected a literal or a supported intrinsic, got {value!r}")


def plain_string(value, where):
    if not isinstance(value, str):
        raise TemplateError(f"{where}: expected a plain string, got {value!r}")
    return str(value)


def single_key(node, where):
    if not isinstance(node, dict) or len(node) != 1:
        raise TemplateError(f"{where}: expected one intrinsic function, got {node!r}")
    (key, arg), = node.items()
    return str(key), arg


class Conditions:
    """The template's Conditions, evaluated for one Region with the parameter defaults."""

    def __init__(self, template, region):
        self.region = region
        self.parameters = template.get("Parameters") or {}
        self.values = {}
        for name, body in (template.get("Conditions") or {}).items():
            self.values[str(name)] = self.condition(body, f"Conditions.{name}")

    def holds(self, name, where):
        if name not in self.values:
            raise TemplateError(f"{where}: no condition named {name!r}")
        return self.values[name]

    def condition(self, node, where):
        key, arg = single_key(node, where)
        if key == "Fn::Equals":
            if not isinstance(arg, list) or len(arg) != 2:
                raise TemplateError(f"{where}: Fn::Equals takes a list of two values")
            left, right = (self.value(v, f"{where}.Fn::Equals[{i}]") for i, v in enumerate(arg))
            return left == right
        if key == "Fn::Not":
            if not isinstance(arg, list) or len(arg) != 1:
                raise TemplateError(f"{where}: Fn::Not takes a list of one condition")
            return not self.condition(arg[0], f"{where}.Fn::Not[0]")
        raise TemplateError(f"{where}: unsupported in a condition: {key} (only Fn::Equals and Fn::Not)")

    def value(self, node, where):
        if not isinstance(node, dict):
            return scalar(node, where)
        key, arg = single_key(node, where)
        if key != "Ref":
            raise TemplateError(f"{where}: unsupported in a condition: {key} (only Ref)")
        name = plain_string(arg, f"{where}.Ref")
        if name == "AWS::Region":
            return self.region
        if name not in self.parameters:
            raise TemplateError(f"{where}: Ref {name}: only parameters and AWS::Region are supported")
        parameter = self.parameters[name] or {}
        if "Default" not in parameter:
            raise TemplateError(f"{where}: Ref {name}: the parameter has no Default")
        return scalar(parameter["Default"], f"Parameters.{name}.Default")


def substitute(node, region, where):
    """ModelSource.CopyFrom: a plain string, or Fn::Sub of one string over the pseudo parameters."""
    if isinstance(node, str):
        return str(node)
    key, arg = single_key(node, where)
    if key != "Fn::Sub" or not isinstance(arg, str):
        raise TemplateError(f"{where}: expected a string or Fn::Sub of one string, got {node!r}")
    known = {"AWS::Partition": PARTITION, "AWS::Region": region, "AWS::AccountId": ACCOUNT_ID}

    def replace(match):
        variable = match.group(1)
        if variable.startswith("!"):  # ${!Literal} stands for ${Literal}
            return "${" + variable[1:] + "}"
        if variable not in known:
            raise TemplateError(f"{where}: unsupported Fn::Sub variable ${{{variable}}} "
                                f"(only {', '.join(sorted(known))})")
        return known[variable]

    return SUB_VARIABLE.sub(replace, arg)


def profile(logical_id, resource, region):
    where = f"Resources.{logical_id}.Properties"
    properties = resource.get("Properties") or {}
    name = plain_string(properties.get("InferenceProfileName"), f"{where}.InferenceProfileName")
    source = properties.get("ModelSource") or {}
    if "CopyFrom" not in source:
        raise TemplateError(f"{where}.ModelSource: CopyFrom is missing")
    tags = {}
    for i, tag in enumerate(properties.get("Tags") or []):
        if not isinstance(tag, dict) or set(tag) != {"Key", "Value"}:
            raise TemplateError(f"{where}.Tags[{i}]: expected Key and Value, got {tag!r}")
        key = plain_string(tag["Key"], f"{where}.Tags[{i}].Key")
        if key in tags:
            raise TemplateError(f"{where}.Tags[{i}]: duplicate tag key {key!r}")
        tags[key] = plain_string(tag["Value"], f"{where}.Tags[{i}].Value")
    return {
        "region": region,
        "name": name,
        "id": hashlib.sha256(f"{region}/{name}".encode()).hexdigest()[:12],
        "model": substitute(source["CopyFrom"], region, f"{where}.ModelSource.CopyFrom"),
        "tags": tags,
    }


def seed(template, regions):
    resources = template.get("Resources") or {}
    profiles = []
    for region in regions:
        conditions = Conditions(template, region)
        names = set()
        for logical_id, resource in resources.items():
            if resource.get("Type") != PROFILE_TYPE:
                continue
            if "Condition" in resource:
                condition = plain_string(resource["Condition"], f"Resources.{logical_id}.Condition")
                if not conditions.holds(condition, f"Resources.{logical_id}.Condition"):
                    continue
            entry = profile(str(logical_id), resource, region)
            if entry["name"] in names:
                raise TemplateError(f"Resources.{logical_id}: a second profile named "
                                    f"{entry['name']!r} in {region}")
            names.add(entry["name"])
            profiles.append(entry)
    return profiles


def render(profiles):
    """The layout of demo/org.json: one profile per line."""
    return '{"profiles": [\n' + ",\n".join(json.dumps(p) for p in profiles) + "\n]}\n"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("template", help="CloudFormation template (YAML or JSON)")
    parser.add_argument("regions", nargs="+", metavar="REGION", help="Region to evaluate it for")
    args = parser.parse_args(argv)
    try:
        template = cfn_yaml.load(args.template)
        if not isinstance(template, dict):
            raise TemplateError("the template is not a mapping")
        output = render(seed(template, args.regions))
    except (TemplateError, OSError) as error:
        sys.exit(f"{parser.prog}: error: {error}")
    sys.stdout.write(output)


if __name__ == "__main__":
    main()
