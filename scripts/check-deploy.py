#!/usr/bin/env python3
"""Check the deployment files: YAML and JSON parse, systemd units use known sections and keys,
the Kubernetes CronJob forbids overlap and mounts a claim, the Dockerfile builds with the
README's build command and runs as a non-root user. Exits 1 naming every problem.

    python3 scripts/check-deploy.py      (scripts/test.sh runs it with PyYAML from .venv)
"""
import json
import os
import re
import sys

import yaml

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
problems = []


def check(cond, msg):
    if not cond:
        problems.append(msg)


# CloudFormation tags (!Ref, !Sub, ...) are not plain YAML: accept any tag.
class Loader(yaml.SafeLoader):
    pass


Loader.add_multi_constructor("!", lambda loader, suffix, node: None)


def load_yaml(rel):
    with open(os.path.join(ROOT, rel)) as f:
        return list(yaml.load_all(f, Loader=Loader))


docs = load_yaml("deploy/kubernetes/cronjob.yaml")
kinds = {d["kind"]: d for d in docs if d}
check({"ServiceAccount", "PersistentVolumeClaim", "CronJob"} <= set(kinds), f"kubernetes: kinds {sorted(kinds)}")
cj = kinds.get("CronJob", {})
check(cj.get("spec", {}).get("concurrencyPolicy") == "Forbid", "kubernetes: concurrencyPolicy must be Forbid")
pod = cj.get("spec", {}).get("jobTemplate", {}).get("spec", {}).get("template", {}).get("spec", {})
check(any("persistentVolumeClaim" in v for v in pod.get("volumes", [])), "kubernetes: the store must be on a PersistentVolumeClaim")
check("eks.amazonaws.com/role-arn" in kinds.get("ServiceAccount", {}).get("metadata", {}).get("annotations", {}), "kubernetes: IRSA annotation")

cfn = load_yaml("deploy/ecs/cloudformation.yaml")[0]
res = cfn.get("Resources", {})
check(any(r.get("Type") == "AWS::Scheduler::Schedule" for r in res.values()), "ecs: an EventBridge Scheduler schedule")
check(any(r.get("Type") == "AWS::ECS::TaskDefinition" and "FARGATE" in r["Properties"]["RequiresCompatibilities"] for r in res.values()), "ecs: a Fargate task")

gha = load_yaml("deploy/github-actions/egresswatch.yml")[0]
check(gha.get("permissions", {}).get("id-token") == "write", "github-actions: id-token: write for OIDC")
on = gha.get("on", gha.get(True, {}))  # YAML 1.1 reads `on` as true
check("schedule" in on, "github-actions: a schedule")

with open(os.path.join(ROOT, "deploy/iam-policy.json")) as f:
    json.load(f)

KNOWN = {
    "Unit": {"Description", "Documentation", "Wants", "After", "Requires", "Before"},
    "Service": {"Type", "User", "Group", "WorkingDirectory", "StateDirectory", "EnvironmentFile", "ExecStart",
                "NoNewPrivileges", "ProtectSystem", "ProtectHome", "PrivateTmp", "ReadWritePaths", "Environment"},
    "Timer": {"OnCalendar", "Persistent", "RandomizedDelaySec", "Unit", "AccuracySec"},
    "Install": {"WantedBy"},
}
for unit in ["egresswatch.service", "egresswatch.timer"]:
    section = None
    with open(os.path.join(ROOT, "deploy/systemd", unit)) as f:
        for n, line in enumerate(f, 1):
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            m = re.match(r"^\[(\w+)\]$", line)
            if m:
                section = m.group(1)
                check(section in KNOWN, f"{unit}:{n}: unknown section [{section}]")
                continue
            key = line.split("=", 1)[0]
            check("=" in line and section in KNOWN and key in KNOWN[section], f"{unit}:{n}: `{key}` is not a known [{section}] key")
timer = open(os.path.join(ROOT, "deploy/systemd/egresswatch.timer")).read()
check("Persistent=true" in timer and "RandomizedDelaySec=" in timer, "timer: Persistent=true and RandomizedDelaySec")

docker = open(os.path.join(ROOT, "Dockerfile")).read()
readme = open(os.path.join(ROOT, "README.md")).read()
build = "cargo build --release --locked"
check(build in readme, f"README: the build command `{build}`")
check(re.search(r"^RUN " + re.escape(build), docker, re.M) is not None, f"Dockerfile: builds with `{build}`")
check(docker.count("FROM ") >= 2, "Dockerfile: multi-stage")
check(re.search(r"^USER (?!root|0\b)", docker, re.M) is not None, "Dockerfile: a non-root USER")
cron = open(os.path.join(ROOT, "deploy/cron/egresswatch.cron")).read()
check(re.search(r"^\S+ \S+ \S+ \S+ \S+ \S+ .*egresswatch run", cron, re.M) is not None, "cron: a daily line")
for line in (l for l in cron.splitlines() if re.match(r"^[0-9*]", l)):
    # A sourced env file exports nothing without `set -a`: the secrets would never reach the job.
    check(". /etc/egresswatch/env" not in line or "set -a" in line, f"cron: `set -a` before sourcing the env file: {line}")
    check("--quiet" in line, f"cron: --quiet, so that cron mails only failures: {line}")

if problems:
    print("\n".join(problems))
    sys.exit(1)
print("deploy files: ok (kubernetes, ecs, github-actions, iam-policy, systemd, cron, Dockerfile)")
