"""The cost views end to end: the real snapshot-publisher (`--once`) against the emulator
(seeded with demo/org.json, every Converse call publishing its AWS/Bedrock metrics to moto's
CloudWatch, as Bedrock does) and moto's S3, SNS and CloudWatch; boto3 reads back what the
publisher wrote. The per-tenant sums are computed through the dashboard's own expressions from
the metered data in CloudWatch, and must equal the emulator's meter."""
import json
import subprocess
import sys
import unittest
from collections import defaultdict

import boto3

from emulator_proc import ROOT, Emulator, binary, stack_env
from moto_proc import MotoServer

sys.path.insert(0, str(ROOT / "scripts"))
from usage_readback import UNTAGGED, METRICS, dashboard_sums, graph_lines, meter_sums  # noqa: E402

BUCKET = "cost-views-snapshots"
PREFIX = "usage"
REGIONS = ("us-east-1", "eu-west-1")
LIMIT_TAG = "profile-resolver:daily-output-tokens"


def profile_id(arn):
    return arn.rsplit("/", 1)[1]


class CostViews(unittest.TestCase):
    def setUp(self):
        self.moto = MotoServer()
        self.addCleanup(self.moto.stop)
        self.emulator = Emulator("--seed", str(ROOT / "demo" / "org.json"), "--cloudwatch", self.moto.url)
        self.addCleanup(self.emulator.stop)
        self.moto.client("s3").create_bucket(Bucket=BUCKET)
        self.topic = self.moto.client("sns").create_topic(Name="ops")["TopicArn"]

    def emulated(self, service, region="us-east-1"):
        return boto3.client(service, region_name=region, endpoint_url=self.emulator.url,
                            aws_access_key_id="testing", aws_secret_access_key="testing")

    def publish(self):
        env = stack_env(self.emulator, self.moto,
                        PROFILE_RESOLVER_SNAPSHOT_URL=f"s3://{BUCKET}/profiles/",
                        PROFILE_RESOLVER_REGIONS=",".join(REGIONS),
                        PROFILE_RESOLVER_DASHBOARD=PREFIX,
                        PROFILE_RESOLVER_ALARM_TOPIC_ARN=self.topic)
        result = subprocess.run([binary("snapshot-publisher"), "--once"], env=env, capture_output=True,
                                text=True, timeout=120)
        self.assertEqual(result.returncode, 0, result.stdout + result.stderr)
        reports = {r["region"]: r for r in json.loads(result.stdout)["regions"]}
        self.assertEqual(set(reports), set(REGIONS))
        for r in reports.values():
            self.assertNotIn("error", r["costViews"], r)
        return reports, result.stderr

    def profiles(self, region):
        """The emulator's profiles of `region`: id -> tags."""
        listed = self.emulated("bedrock", region).list_inference_profiles(typeEquals="APPLICATION")
        out = {}
        for p in listed["inferenceProfileSummaries"]:
            tags = self.emulated("bedrock", region).list_tags_for_resource(resourceARN=p["inferenceProfileArn"])["tags"]
            out[p["inferenceProfileId"]] = {t["key"]: t["value"] for t in tags}
        return out

    def expected_lines(self, region):
        lines = defaultdict(set)
        for pid, tags in self.profiles(region).items():
            lines[tags.get("tenant", UNTAGGED)].add(pid)
        return dict(lines)

    def dashboard(self, region):
        # Dashboards are global; moto keeps each under the region whose endpoint wrote it.
        body = self.moto.client("cloudwatch", region).get_dashboard(DashboardName=f"{PREFIX}-{region}")["DashboardBody"]
        return json.loads(body)

    def test_each_regions_dashboard_names_every_tenants_profiles_and_no_other(self):
        reports, _ = self.publish()
        for region in REGIONS:
            self.assertTrue(reports[region]["costViews"]["dashboardWritten"], region)
            graphs = [w for w in self.dashboard(region)["widgets"] if w["type"] == "metric"]
            self.assertEqual([g["properties"]["metrics"][0][1] for g in graphs], list(METRICS))
            for graph in graphs:
                self.assertEqual(graph["properties"]["region"], region)
                self.assertEqual(graph_lines(graph), self.expected_lines(region), region)

    def test_a_retag_moves_a_profile_between_tenants_at_the_next_publish_and_nothing_else_rewrites(self):
        self.publish()
        before = self.moto.client("cloudwatch").list_dashboards()["DashboardEntries"]
        reports, _ = self.publish()
        self.assertFalse(any(r["costViews"]["dashboardWritten"] for r in reports.values()), reports)
        self.assertEqual(self.moto.client("cloudwatch").list_dashboards()["DashboardEntries"], before)
        moved = next(pid for pid, tags in self.profiles("us-east-1").items() if tags.get("tenant") == "acme")
        arn = f"arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/{moved}"
        self.emulated("bedrock").tag_resource(resourceARN=arn, tags=[{"key": "tenant", "value": "globex"}])
        reports, _ = self.publish()
        self.assertTrue(reports["us-east-1"]["costViews"]["dashboardWritten"])
        self.assertFalse(reports["eu-west-1"]["costViews"]["dashboardWritten"], "eu-west-1 did not change")
        graph = next(w for w in self.dashboard("us-east-1")["widgets"] if w["type"] == "metric")
        lines = graph_lines(graph)
        self.assertIn(moved, lines["globex"])
        self.assertNotIn(moved, lines["acme"])
        self.assertEqual(lines, self.expected_lines("us-east-1"))

    def test_usage_alarms_follow_the_limit_tag_and_go_with_their_tenant(self):
        cloudwatch = self.moto.client("cloudwatch")
        hooli = {pid: tags for pid, tags in self.profiles("us-east-1").items() if tags.get("tenant") == "hooli"}
        umbrella = [pid for pid, tags in self.profiles("us-east-1").items() if tags.get("tenant") == "umbrella"]
        bedrock = self.emulated("bedrock")
        arn = "arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/{}".format
        for pid in hooli:
            bedrock.tag_resource(resourceARN=arn(pid), tags=[{"key": LIMIT_TAG, "value": "1000"}])
        bedrock.tag_resource(resourceARN=arn(umbrella[0]), tags=[{"key": LIMIT_TAG, "value": "lots"}])
        _, log = self.publish()
        self.assertIn(arn(umbrella[0]), log, "the malformed limit is logged with its profile")
        alarms = cloudwatch.describe_alarms(AlarmNamePrefix=PREFIX)["MetricAlarms"]
        self.assertEqual([a["AlarmName"] for a in alarms], [f"{PREFIX}-us-east-1-hooli-daily-output-tokens"])
        (alarm,) = alarms
        self.assertEqual((alarm["Threshold"], alarm["ComparisonOperator"]), (1000.0, "GreaterThanThreshold"))
        self.assertEqual(alarm["AlarmActions"], [self.topic])
        stats = [m["MetricStat"] for m in alarm["Metrics"] if "MetricStat" in m]
        self.assertEqual({s["Metric"]["Dimensions"][0]["Value"] for s in stats}, set(hooli))
        self.assertTrue(all(s["Metric"]["MetricName"] == "OutputTokenCount" and s["Period"] == 86400 for s in stats))
        (watched,) = [m for m in alarm["Metrics"] if m.get("ReturnData")]
        self.assertEqual(watched["Expression"], "SUM([{}])".format(",".join(f"m{i}" for i in range(len(hooli)))))
        # A new limit updates the alarm; hooli's profiles moving to another tenant delete it.
        for pid in hooli:
            bedrock.tag_resource(resourceARN=arn(pid), tags=[{"key": LIMIT_TAG, "value": "2500"}])
        reports, _ = self.publish()
        self.assertEqual(reports["us-east-1"]["costViews"]["alarmsWritten"], 1)
        self.assertEqual(cloudwatch.describe_alarms(AlarmNamePrefix=PREFIX)["MetricAlarms"][0]["Threshold"], 2500.0)
        for pid in hooli:
            bedrock.tag_resource(resourceARN=arn(pid), tags=[{"key": "tenant", "value": "initrode"}])
        reports, _ = self.publish()
        views = reports["us-east-1"]["costViews"]
        self.assertEqual((views["alarmsDeleted"], views["alarmsWritten"]), (1, 1))
        names = [a["AlarmName"] for a in cloudwatch.describe_alarms(AlarmNamePrefix=PREFIX)["MetricAlarms"]]
        self.assertEqual(names, [f"{PREFIX}-us-east-1-initrode-daily-output-tokens"], "the limit moved with them")
        for pid in hooli:
            bedrock.untag_resource(resourceARN=arn(pid), tagKeys=[LIMIT_TAG])
        reports, _ = self.publish()
        self.assertEqual(reports["us-east-1"]["costViews"]["alarmsDeleted"], 1)
        self.assertEqual(cloudwatch.describe_alarms(AlarmNamePrefix=PREFIX)["MetricAlarms"], [])

    def test_the_dashboards_sums_of_the_metered_data_equal_the_meters_totals(self):
        self.publish()
        words = ["one", "two words", "three more words", "and now four words"]
        for region in REGIONS:
            runtime = self.emulated("bedrock-runtime", region)
            for n, pid in enumerate(sorted(self.profiles(region))):
                arn = f"arn:aws:bedrock:{region}:123456789012:application-inference-profile/{pid}"
                for k in range(n % 3 + 1):
                    runtime.converse(modelId=arn, messages=[{"role": "user", "content": [{"text": words[k]}]}])
        usage = self.emulator.admin("GET", "/usage")
        for region in REGIONS:
            cloudwatch = self.moto.client("cloudwatch", region)
            body = cloudwatch.get_dashboard(DashboardName=f"{PREFIX}-{region}")["DashboardBody"]
            metered = meter_sums(usage, region)
            self.assertGreaterEqual(len(metered), 2, region)
            self.assertEqual(dashboard_sums(cloudwatch, body), metered, region)


if __name__ == "__main__":
    unittest.main()
