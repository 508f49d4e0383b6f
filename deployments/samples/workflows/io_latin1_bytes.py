print("café au lait")
