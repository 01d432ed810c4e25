"""Sample handler for the lambdatel layer template: logs a line and returns, so each invocation yields a span,
metrics and a log record."""

import json


def handler(event, context):
    order = event.get("order") if isinstance(event, dict) else None
    print(json.dumps({"level": "INFO", "message": "order received", "order": order}))
    return {"statusCode": 200, "body": json.dumps({"ok": True})}
