def promote(digest):
    print("promoting", digest
