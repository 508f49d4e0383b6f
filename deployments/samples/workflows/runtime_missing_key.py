gates = {"unit": True}
print(gates["integration"])
