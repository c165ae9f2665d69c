"""Per-tenant Bedrock usage read back through a usage dashboard's own expressions: every line
of the dashboard's graphs is `SUM([m0,m1,...])` over hidden `AWS/Bedrock` metrics, and this
sums those metrics' data points from CloudWatch (GetMetricData) the way the expression does.
Beside it, the same totals from the emulator's meter. `make demo` prints both, and
tests/python/test_cost_views.py requires them equal.

  usage_readback.py CLOUDWATCH_URL EMULATOR_URL DASHBOARD REGION
"""
import datetime
import json
import re
import sys
import urllib.request
from collections import defaultdict

import boto3

METRICS = ("Invocations", "InputTokenCount", "OutputTokenCount")
UNTAGGED = "(untagged)"


def graph_lines(graph):
    """A graph's lines: label -> the ModelIds its SUM expression references."""
    metrics = graph["properties"]["metrics"]
    by_ref = {m[-1]["id"]: m[3] for m in metrics if m[0] == "AWS/Bedrock"}
    lines = {}
    for m in metrics:
        if "expression" in m[0]:
            refs = re.fullmatch(r"SUM\(\[([a-z0-9,]+)\]\)", m[0]["expression"]).group(1).split(",")
            lines[m[0]["label"]] = {by_ref[r] for r in refs}
    return lines


def graphs(dashboard_body):
    return [w for w in json.loads(dashboard_body)["widgets"] if w["type"] == "metric"]


def dashboard_sums(cloudwatch, dashboard_body, hours=1):
    """label -> [invocations, input tokens, output tokens] over the last `hours`, each line's
    SUM over its metrics, from CloudWatch's data."""
    now = datetime.datetime.now(datetime.timezone.utc)
    out = defaultdict(lambda: [0, 0, 0])
    for graph in graphs(dashboard_body):
        metric = graph["properties"]["metrics"][0][1]
        column = METRICS.index(metric)
        for label, ids in graph_lines(graph).items():
            queries = [{"Id": f"q{j}", "ReturnData": True, "MetricStat": {
                "Metric": {"Namespace": "AWS/Bedrock", "MetricName": metric,
                           "Dimensions": [{"Name": "ModelId", "Value": pid}]},
                "Period": 60, "Stat": "Sum"}} for j, pid in enumerate(sorted(ids))]
            data = cloudwatch.get_metric_data(MetricDataQueries=queries, StartTime=now - datetime.timedelta(hours=hours),
                                              EndTime=now + datetime.timedelta(minutes=5))
            out[label][column] += int(sum(sum(r["Values"]) for r in data["MetricDataResults"]))
    return {k: v for k, v in out.items() if any(v)}


def meter_sums(usage, region, tenant_tag="tenant"):
    """label -> [calls, input tokens, output tokens] of the emulator's meter in `region`, by the
    tenant tag each call's profile carried at the time."""
    out = defaultdict(lambda: [0, 0, 0])
    for call in usage["calls"]:
        if call["arn"].split(":")[3] != region:
            continue
        totals = out[call["tags"].get(tenant_tag, UNTAGGED)]
        for i, v in enumerate((1, call["inputTokens"], call["outputTokens"])):
            totals[i] += v
    return dict(out)


def main():
    cloudwatch_url, emulator_url, dashboard, region = sys.argv[1:5]
    cloudwatch = boto3.client("cloudwatch", region_name=region, endpoint_url=cloudwatch_url,
                              aws_access_key_id="demo", aws_secret_access_key="demo")
    body = cloudwatch.get_dashboard(DashboardName=dashboard)["DashboardBody"]
    with urllib.request.urlopen(emulator_url + "/_emulator/usage", timeout=10) as resp:
        usage = json.load(resp)
    seen, metered = dashboard_sums(cloudwatch, body), meter_sums(usage, region)
    print(f"{'tenant':<12} {'dashboard: calls':>17} {'input':>7} {'output':>7}   {'meter: calls':>13} {'input':>7} "
          f"{'output':>7}")
    for label in sorted(set(seen) | set(metered)):
        a, b = seen.get(label, [0, 0, 0]), metered.get(label, [0, 0, 0])
        print(f"{label:<12} {a[0]:>17} {a[1]:>7} {a[2]:>7}   {b[0]:>13} {b[1]:>7} {b[2]:>7}"
              f"{'' if a == b else '   <- differs'}")
    if seen != metered:
        raise SystemExit("the dashboard's sums differ from the meter")


if __name__ == "__main__":
    main()
