# The game's ws-message handler shape: it reads the user from
# requestContext.authorizer and fails without one.
import json


def handler(event, context):
    user = event["requestContext"]["authorizer"]["userId"]
    return {"statusCode": 200, "headers": {"Content-Type": "application/json"},
            "body": json.dumps({"user": user, "got": event["body"]})}
