"""Secrets the values name: the Hugging Face token, Secret-backed env entries, image pull Secrets."""

from __future__ import annotations

import base64
from dataclasses import dataclass

from vllm_serving.preflight.core import FAIL, PASS, Context, Result, listing

DOCKER_TYPES = ("kubernetes.io/dockerconfigjson", "kubernetes.io/dockercfg")


@dataclass
class SecretRef:
    name: str
    key: str | None  # None: the whole Secret (an image pull Secret)
    where: str  # the value that names it


def references(values: dict) -> list[SecretRef]:
    refs: list[SecretRef] = []
    weights = values["weights"]
    token = weights["huggingface"]["tokenSecret"]
    if weights["source"] == "huggingface" and token["name"]:
        refs.append(SecretRef(token["name"], token["key"], "weights.huggingface.tokenSecret"))
    for i, env in enumerate(values.get("env") or []):
        ref = (env.get("valueFrom") or {}).get("secretKeyRef")
        if ref and ref.get("name") and not ref.get("optional"):
            refs.append(SecretRef(ref["name"], ref.get("key"), f"env[{i}] ({env['name']})"))
    for i, pull in enumerate(values.get("imagePullSecrets") or []):
        refs.append(SecretRef(pull["name"], None, f"imagePullSecrets[{i}]"))
    return refs


def _problem(ctx: Context, secret: dict | None, ref: SecretRef) -> str | None:
    ns = ctx.namespace
    if secret is None:
        if ref.key is None:
            return (
                f"Secret {ref.name} ({ref.where}) does not exist in namespace {ns}; create it: kubectl create secret"
                f" docker-registry {ref.name} -n {ns} --docker-server=REGISTRY --docker-username=USER"
                " --docker-password=PASSWORD"
            )
        example = "hf_..." if ref.where.startswith("weights.huggingface") else "VALUE"
        return (
            f"Secret {ref.name} ({ref.where}) does not exist in namespace {ns}; create it: kubectl create secret"
            f" generic {ref.name} -n {ns} --from-literal={ref.key}={example}"
        )
    data = secret.get("data") or {}
    if ref.key is None:
        kind = secret.get("type", "Opaque")
        if kind not in DOCKER_TYPES:
            return (
                f"Secret {ref.name} ({ref.where}) is of type {kind}; the kubelet pulls with"
                f" kubernetes.io/dockerconfigjson Secrets only: recreate it with kubectl create secret docker-registry"
            )
        return None
    if ref.key not in data:
        key_path = f"{ref.where}.key" if ref.where.startswith("weights.") else f"{ref.where} secretKeyRef.key"
        return (
            f"Secret {ref.name} ({ref.where}) has no key {ref.key!r} (keys: {listing(list(data))}); add it"
            f" (kubectl create secret generic {ref.name} -n {ns} --from-literal={ref.key}=... --dry-run=client"
            f" -o yaml | kubectl apply -f -), or set {key_path} to the key that holds it"
        )
    if not base64.b64decode(data[ref.key] or ""):
        return f"Secret {ref.name} ({ref.where}) has an empty {ref.key!r}; put the value in it"
    return None


def checks(ctx: Context) -> list[Result]:
    if ctx.namespace_object is None:
        return []
    by_name: dict[str, list[SecretRef]] = {}
    for ref in references(ctx.values):
        by_name.setdefault(ref.name, []).append(ref)
    results = []
    for name, refs in by_name.items():
        secret = ctx.kube.get(f"/api/v1/namespaces/{ctx.namespace}/secrets/{name}")
        problems = [p for ref in refs if (p := _problem(ctx, secret, ref))]
        if secret is None:
            problems = problems[:1]  # one "does not exist" is enough
        if problems:
            results.append(Result(f"secret/{name}", FAIL, "; ".join(problems)))
        else:
            used = ", ".join(r.where + (f" key {r.key}" if r.key else "") for r in refs)
            results.append(Result(f"secret/{name}", PASS, f"Secret {name} exists ({used})"))
    return results
