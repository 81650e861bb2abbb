"""Kubernetes objects are no longer skipped: a ConfigMap on the platform's cluster whose data names
a bucket endpoint in eu-west-1, and a Job whose env points its uploads at a gs:// bucket that is
not part of the stack (it cannot be placed, so it is refused: residency is never assumed)."""
import pulumi
import pulumi_kubernetes as k8s

from _platform import platform

EXPECT = {"stack": "dev", "refused": [
    ("data-residency", "team-export-config",
     "(team-exports.s3.eu-west-1.amazonaws.com) = 'eu-west-1' is in jurisdiction 'eu'"),
    ("data-residency", "team-uploader", "(bucket 'someone-elses-eu-bucket') cannot be placed"),
]}

p = platform()
opts = pulumi.ResourceOptions(provider=p.regions["us-east-1"].cluster.kube_provider)
k8s.core.v1.ConfigMap("team-export-config", metadata={"name": "team-export-config", "namespace": "default"},
                      data={"export.yaml": "sink:\n  url: https://team-exports.s3.eu-west-1.amazonaws.com/daily/\n"},
                      opts=opts)
k8s.batch.v1.Job("team-uploader", metadata={"name": "team-uploader", "namespace": "default"}, spec={
    "template": {"spec": {"restartPolicy": "Never", "containers": [{
        "name": "up", "image": "busybox:1.36", "command": ["sh", "-c", "true"],
        "env": [{"name": "TARGET", "value": "gs://someone-elses-eu-bucket/uploads"}]}]}}}, opts=opts)
