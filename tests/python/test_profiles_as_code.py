"""Offline checks of the demo organisation as code: examples/profiles.yaml is cfn-lint clean,
demo/org.json is exactly what scripts/seed_from_template.py generates from it (so the two
cannot drift), the template in docs/costs.md is cfn-lint clean, and the generator refuses what
it cannot evaluate instead of guessing."""
import json
import os
import re
import subprocess
import sys
import tempfile
import unittest
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "examples" / "profiles.yaml"
SEED = ROOT / "demo" / "org.json"
GENERATOR = ROOT / "scripts" / "seed_from_template.py"
COSTS = ROOT / "docs" / "costs.md"
VENV_BIN = Path(os.environ.get("VIRTUAL_ENV", ROOT / ".venv")) / "bin"
REGIONS = ("us-east-1", "eu-west-1")


def cfn_lint(path):
    env = dict(os.environ, AWS_DEFAULT_REGION="us-east-1")
    return subprocess.run([str(VENV_BIN / "cfn-lint"), str(path)], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=300)


def generate(template, *regions):
    return subprocess.run([sys.executable, str(GENERATOR), str(template), *regions], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)


class ProfilesAsCode(unittest.TestCase):
    def test_the_profiles_template_is_cfn_lint_clean(self):
        result = cfn_lint(TEMPLATE)
        self.assertEqual(result.returncode, 0, result.stdout + result.stderr)

    def test_the_demo_seed_is_what_the_generator_makes_of_the_template(self):
        result = generate(TEMPLATE, *REGIONS)
        self.assertEqual(result.returncode, 0, result.stderr)
        generated = json.loads(result.stdout)
        self.assertEqual(json.loads(SEED.read_text()), generated,
                         "demo/org.json drifted from examples/profiles.yaml: regenerate it with "
                         "scripts/seed_from_template.py examples/profiles.yaml "
                         + " ".join(REGIONS))
        regions = [p["region"] for p in generated["profiles"]]
        self.assertEqual((regions.count("us-east-1"), regions.count("eu-west-1")), (28, 2))

    def test_the_budget_template_in_the_costs_guide_is_cfn_lint_clean(self):
        block = re.search(r"^```yaml\n(.*?)^```", COSTS.read_text(), re.S | re.M)
        self.assertIsNotNone(block, "docs/costs.md has no ```yaml block")
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "costs.yaml"
            path.write_text(block.group(1))
            result = cfn_lint(path)
        self.assertEqual(result.returncode, 0, result.stdout + result.stderr)

    def test_the_generator_refuses_an_unsupported_intrinsic_in_a_condition(self):
        template = """\
AWSTemplateFormatVersion: "2010-09-09"
Conditions:
  InUs: !Or [!Equals [!Ref "AWS::Region", us-east-1], !Equals [!Ref "AWS::Region", us-west-2]]
Resources:
  Chat:
    Type: AWS::Bedrock::ApplicationInferenceProfile
    Condition: InUs
    Properties:
      InferenceProfileName: chat
      ModelSource:
        CopyFrom: !Sub arn:${AWS::Partition}:bedrock:${AWS::Region}::foundation-model/amazon.nova-lite-v1:0
"""
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "or.yaml"
            path.write_text(template)
            result = generate(path, "us-east-1")
        self.assertNotEqual(result.returncode, 0, result.stdout)
        self.assertIn("Fn::Or", result.stderr)
        self.assertEqual(result.stdout, "")


if __name__ == "__main__":
    unittest.main()
