"""How a Python Lambda function calls the extension: the standard library only, the token from
the environment (AWS_SESSION_TOKEN in Lambda). Prints the answer's status and JSON body.
Usage: stdlib_client.py URL TAG=VALUE..."""
import json
import os
import sys
import urllib.error
import urllib.request


def resolve(base_url, tags, token):
    request = urllib.request.Request(
        base_url + "/v1/resolve",
        data=json.dumps({"tags": tags}).encode(),
        headers={"X-Profile-Resolver-Token": token, "Content-Type": "application/json"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, json.load(response)
    except urllib.error.HTTPError as error:
        return error.code, json.load(error)


def main():
    url, *pairs = sys.argv[1:]
    tags = dict(p.split("=", 1) for p in pairs)
    token = os.environ.get("PROFILE_RESOLVER_TOKEN") or os.environ["AWS_SESSION_TOKEN"]
    status, body = resolve(url, tags, token)
    print(json.dumps({"status": status, "body": body}))


if __name__ == "__main__":
    main()
