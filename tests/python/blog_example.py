"""The AWS blog post's example, run against an endpoint: creates a tagged application inference
profile with boto3 and prints its ARN. Usage: blog_example.py ENDPOINT NAME KEY=VALUE..."""
import sys

import boto3


def main():
    endpoint, name, *pairs = sys.argv[1:]
    bedrock = boto3.client("bedrock", region_name="us-east-1", endpoint_url=endpoint)
    model_arn = "arn:aws:bedrock:us-east-1::foundation-model/anthropic.claude-3-haiku-20240307-v1:0"
    tags = [{'key': k, 'value': v} for k, v in (p.split("=", 1) for p in pairs)]
    inf_profile_response = bedrock.create_inference_profile(
        inferenceProfileName=name,
        description='Application profile for claims dept',
        modelSource={'copyFrom': model_arn},
        tags=tags,
    )
    print(inf_profile_response['inferenceProfileArn'])


if __name__ == "__main__":
    main()
