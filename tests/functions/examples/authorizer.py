# A function authorizer written for Yandex Cloud Functions (Python runtime),
# run by ../runner.py in tests/integration/test_fn_auth.py. It logs each
# request it gets (one JSON line to $AUTHZ_LOG) so the test counts calls.
import base64
import json
import os
import time


def handler(event, context):
    with open(os.environ["AUTHZ_LOG"], "a") as f:
        f.write(json.dumps(event) + "\n")
    cred = (event["cookies"].get("AUTH") or event["queryStringParameters"].get("key")
            or event["headers"].get("Authorization", ""))
    if cred.startswith("Bearer "):
        cred = cred[7:]
    elif cred.startswith("Basic "):
        user, _, password = base64.b64decode(cred[6:]).decode().partition(":")
        cred = "good-" + user if password == "secret" else "deny"
    if cred == "raise":
        raise RuntimeError("the authorizer throws")
    if cred == "broken":
        return {"isAuthorized": "yes"}
    if cred == "slow":
        time.sleep(7)
    if cred.startswith("good-"):
        return {"isAuthorized": True, "context": {"userId": cred[5:], "n": 1}}
    return {"isAuthorized": False}
