"""An internal ALB a team adds for its own confidential service: HTTP listener, HTTP target group,
no access logs. Its data-classification tag makes the stack confidential (the class comes from the
stack), so transport-tls requires TLS on both hops, and access-logs its logs."""

import pulumi
import pulumi_aws as aws
from _platform import platform

EXPECT = {
    "stack": "dev",
    "refused": [
        ("transport-tls", "raw-alb-http", "carries the requests in plaintext"),
        ("transport-tls", "raw-alb-targets", "reaches its targets in plaintext"),
        ("access-logs", "raw-alb", "no access logs"),
    ],
}

p = platform()
region = p.regions["us-east-1"]
aws_opts = pulumi.ResourceOptions(provider=region.provider)
tags = {"data-classification": "confidential"}
alb = aws.lb.LoadBalancer("raw-alb", internal=True, load_balancer_type="application",
                          subnets=region.network.private_subnet_ids, tags=tags, opts=aws_opts)
tg = aws.lb.TargetGroup("raw-alb-targets", port=8080, protocol="HTTP", target_type="ip",
                        vpc_id=region.network.vpc_id, tags=tags, opts=aws_opts)
aws.lb.Listener("raw-alb-http", load_balancer_arn=alb.arn, port=80, protocol="HTTP",
                default_actions=[{"type": "forward", "target_group_arn": tg.arn}], tags=tags, opts=aws_opts)
