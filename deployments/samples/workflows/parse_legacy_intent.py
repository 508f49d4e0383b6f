intent: ship the canary
print("legacy workflow syntax")
