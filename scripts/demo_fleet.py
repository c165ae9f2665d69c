"""Helpers for the fleet part of scripts/demo.sh (boto3 against moto and the emulator, and the
extension's HTTP API), kept here so the shell script needs no nested quoting.

  demo_fleet.py bucket MOTO              create the demo bucket
  demo_fleet.py objects MOTO             list the published objects and print the heartbeat
  demo_fleet.py tag EMU ARN KEY VALUE    Bedrock TagResource
  demo_fleet.py ask READER TOKEN         resolve acme's claims chatbot on claude, one line
  demo_fleet.py arn READER TOKEN         the same query's ARN
  demo_fleet.py calls READER TOKEN       the reader's GetResources calls so far
  demo_fleet.py converse EMU             Converse through each us-east-1 profile, 1 to 3 times
"""
import json
import sys
import urllib.request

import boto3

BUCKET = "demo-fleet-snapshots"
QUERY = {"tags": {"tenant": "acme", "app": "chatbot", "dept": "claims", "model": "claude"}}


def client(service, endpoint):
    return boto3.client(service, region_name="us-east-1", endpoint_url=endpoint,
                        aws_access_key_id="demo", aws_secret_access_key="demo")


def call(reader, token, path, body=None):
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(reader + path, data=data, headers={"X-Profile-Resolver-Token": token})
    with urllib.request.urlopen(req, timeout=10) as resp:
        return json.load(resp)


def main(cmd, *args):
    if cmd == "bucket":
        client("s3", args[0]).create_bucket(Bucket=BUCKET)
    elif cmd == "objects":
        s3 = client("s3", args[0])
        for o in s3.list_objects_v2(Bucket=BUCKET)["Contents"]:
            print(f"  s3://{BUCKET}/{o['Key']}  {o['Size']} bytes  ETag {o['ETag']}")
        beat = s3.get_object(Bucket=BUCKET, Key="profiles/us-east-1.heartbeat.json")["Body"].read()
        print("  heartbeat:", beat.decode())
    elif cmd == "tag":
        emu, arn, key, value = args
        client("bedrock", emu).tag_resource(resourceARN=arn, tags=[{"key": key, "value": value}])
    elif cmd == "ask":
        a = call(args[0], args[1], "/v1/resolve", QUERY)
        p = a["profile"]
        print(f"  {p['arn']}  costcenter={p['tags'].get('costcenter', '-')}  "
              f"cache={a['cache']}  ageSeconds={a['ageSeconds']}")
    elif cmd == "arn":
        print(call(args[0], args[1], "/v1/resolve", QUERY)["profile"]["arn"])
    elif cmd == "calls":
        print(call(args[0], args[1], "/v1/stats")["upstreamCalls"]["GetResources"])
    elif cmd == "converse":
        bedrock, runtime = client("bedrock", args[0]), client("bedrock-runtime", args[0])
        profiles = bedrock.list_inference_profiles(typeEquals="APPLICATION")["inferenceProfileSummaries"]
        calls = 0
        for n, p in enumerate(sorted(profiles, key=lambda p: p["inferenceProfileName"])):
            for _ in range(n % 3 + 1):
                runtime.converse(modelId=p["inferenceProfileArn"],
                                 messages=[{"role": "user", "content": [{"text": "summarise this claim please"}]}])
                calls += 1
        print(f"  {calls} Converse calls through {len(profiles)} profiles")
    else:
        sys.exit(f"unknown command {cmd}")


if __name__ == "__main__":
    main(*sys.argv[1:])
