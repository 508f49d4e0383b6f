def rollback():
  print("rolling back")
    print("done")
