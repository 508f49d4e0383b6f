def weights():
    return {"canary": canary_weight}


print(weights())
