"""Sample handler for the lambdatel layer template: logs a line and returns, so each invocation yields a span,
metrics and a log record."""

import json


def handler(event, context):
    print(json.dumps({"level": "INFO", "message": "order received", "order": event.get("order")}))
    return {"statusCode": 200, "body": json.dumps({"ok": True})}
