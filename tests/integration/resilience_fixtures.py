"""What the resilience tests share: a fixed-split rollout (`weight: 50%`,
canary and stable subsets of one service), users found by their decision
header, metric and window readers, a bounded wait, a wrk script with random
user ids."""

import json
import time
import urllib.request

from cohort_harness import http_get

DECISION_HEADER = "x-cohort-decision"
ROLLOUT = "profile"


def make_config(canary_address, stable_address, *, workers=1, **service_extra):
    """service_extra: keys of the service as in the configuration
    (per_try_timeout, outlier_detection, retries, failover, health_check, ...)."""
    service = {
        "name": "profile-api",
        "subsets": {"stable": {"endpoints": [stable_address]},
                    "canary": {"endpoints": [canary_address]}},
        "connect_timeout": "500ms",
        "request_timeout": "3s",
    }
    service.update(service_extra)
    return {
        "gateway": {"listeners": [{"name": "public", "address": "127.0.0.1:0"}],
                    "workers": workers, "decision_header": DECISION_HEADER},
        "services": [service],
        "routes": [{"name": "profile", "match": {"path_prefix": "/"},
                    "service": "profile-api"}],
        "rollouts": [{"name": ROLLOUT, "service": "profile-api", "stable": "stable",
                      "canary": "canary", "weight": "50%",
                      "session": {"key": [{"header": "X-User-Id"}]}}],
    }


def breaker_config(limited_address, other_address, *, workers, request_timeout, max_requests):
    """Two services for the circuit-breaker tests: `limited-api` under
    /slow with a max_requests breaker, and `other-api` under /echo, which
    must stay fast while the first one overflows."""
    return {
        "gateway": {"listeners": [{"name": "public", "address": "127.0.0.1:0"}],
                    "workers": workers},
        "services": [
            {"name": "limited-api", "subsets": {"stable": {"endpoints": [limited_address]}},
             "request_timeout": request_timeout,
             "circuit_breakers": {"max_requests": max_requests}},
            {"name": "other-api", "subsets": {"stable": {"endpoints": [other_address]}}},
        ],
        "routes": [
            {"name": "slow", "match": {"path_prefix": "/slow"}, "service": "limited-api"},
            {"name": "echo", "match": {"path_prefix": "/echo"}, "service": "other-api"},
        ],
    }


def get(gw, user, path="/profile", timeout=5.0):
    """(status, decision reason, X-Backend-Version, body) of one request."""
    status, headers, body = http_get(gw.port(), path, headers={"X-User-Id": user},
                                     timeout=timeout)
    return status, headers.get(DECISION_HEADER, ""), headers.get("X-Backend-Version"), body


def canary_users(gw, n):
    """The first n ids u0, u1, ... that the rollout assigns to the canary
    (bucket below the weight: "bucket:B<W"), read from the decision header."""
    found = []
    for i in range(400):
        user = f"u{i}"
        _, reason, _, _ = get(gw, user)
        if reason.startswith("bucket:") and "<" in reason.split(",")[0]:
            found.append(user)
            if len(found) == n:
                return found
    raise AssertionError(f"fewer than {n} canary users among 400 ids")


def stable_user(gw):
    for i in range(400):
        user = f"s{i}"
        _, reason, _, _ = get(gw, user)
        if reason.startswith("bucket:") and ">=" in reason:
            return user
    raise AssertionError("no stable user among 400 ids")


def metric(gw, name, **labels):
    """The value of the first series of `name` whose labels include the given
    ones; None when absent."""
    with urllib.request.urlopen(gw.admin_url("/metrics"), timeout=5) as resp:
        text = resp.read().decode()
    for line in text.splitlines():
        if not line.startswith(name + "{"):
            continue
        if all(f'{k}="{v}"' in line for k, v in labels.items()):
            return float(line.rsplit(" ", 1)[1])
    return None


def canary_arm_errors(gw):
    """Errors the controller's windows saw on the canary arm, summed over the
    per-second stats history of the admin API."""
    with urllib.request.urlopen(gw.admin_url("/api/v1/stats"), timeout=5) as resp:
        doc = json.load(resp)
    total = 0
    for sample in doc["samples"]:
        for rollout in sample.get("rollouts", []):
            arm = rollout.get("arms", {}).get("canary")
            if arm:
                total += arm.get("errors", 0)
    return total


def wait_for(predicate, timeout, step=0.05):
    """predicate()'s first truthy value within timeout seconds, else its last."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(step)
    return predicate()


def wrk_random_users(seed):
    """A wrk script: GET /profile as a random one of a million users."""
    return f"""
math.randomseed({seed})
request = function()
  return wrk.format("GET", "/profile", {{["X-User-Id"] = "w" .. math.random(1, 1000000)}})
end
"""
