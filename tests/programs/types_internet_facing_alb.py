"""An internet-facing ALB next to the internal gateway ALB, and an unauthenticated route on a new API."""
import pulumi
import pulumi_aws as aws

from _platform import platform

platform()
raw = aws.Provider("raw-aws", region="us-east-1")
opts = pulumi.ResourceOptions(provider=raw)
TAGS = {"owner": "ml-platform", "team": "inference", "cost-center": "cc-4410", "data-classification": "confidential"}

EXPECT = {"stack": "staging", "refused": [
    ("security-baseline", "raw-alb", "internet-facing load balancer"),
    ("security-baseline", "raw-health", "route 'GET /health' of API 'raw-api' has no authorizer")]}

aws.lb.LoadBalancer("raw-alb", internal=False, load_balancer_type="application", subnets=["subnet-1", "subnet-2"],
                    tags=TAGS, opts=opts)
api = aws.apigatewayv2.Api("raw-api", name="raw-api", protocol_type="HTTP", tags=TAGS, opts=opts)
aws.apigatewayv2.Route("raw-health", api_id=api.id, route_key="GET /health", opts=opts)
