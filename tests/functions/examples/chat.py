# A WebSocket handler written for Yandex Cloud Functions (Python runtime),
# run by ../runner.py in tests/integration/test_functions.py.
import base64
import json


def handler(event, context):
    rc = event["requestContext"]
    if rc["eventType"] == "CONNECT":
        if (event.get("queryStringParameters") or {}).get("token") == "bad":
            return {"statusCode": 401, "body": "no token"}
        return {"statusCode": 200, "headers": {"Content-Type": "text/plain"},
                "body": "welcome " + rc["connectionId"]}
    if rc["eventType"] == "MESSAGE":
        if event["isBase64Encoded"]:  # binary in, binary out: no Content-Type
            data = base64.b64decode(event["body"])[::-1]
            return {"statusCode": 200, "body": base64.b64encode(data).decode(), "isBase64Encoded": True}
        if event["body"] == "throw":
            raise ValueError("asked to throw")
        return {"statusCode": 200, "headers": {"Content-Type": "application/json"},
                "body": json.dumps({"lang": "python", "got": event["body"], "id": rc["messageId"],
                                    "fn": context.function_name})}
    return {"statusCode": 200}
