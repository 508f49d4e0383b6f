STEPS = {"canary": 5, "half": 50, "full": 100}
for name, percent in STEPS.items():
    print(f"{name}: {percent}%")
