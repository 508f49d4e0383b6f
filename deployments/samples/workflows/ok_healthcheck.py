import json

print(json.dumps({"status": "ok"}))
