passed, total = 3, 0
print("pass rate", passed / total)
